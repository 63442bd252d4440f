"""Keras model configs read as data: the layer tree, and the audit of what else a config holds.

`layer_tree` walks `config.layers` and recurses into nested models (slots.py gives each layer
class's variables); `audit_config` finds every serialized function, bytecode blob, file path and
module outside Keras, before anything reads or loads the config. Nothing in a config is ever
executed.
"""

from __future__ import annotations

import base64
import builtins
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from exporter.core.errors import InputError, UnsafeInputError

MODEL_CLASSES = ("Functional", "Sequential", "Model")


@dataclass
class LayerNode:
    """One layer of a config: class, name, config dict, and children (nested model layers)."""

    class_name: str
    name: str
    config: dict[str, Any]
    trainable: bool = True
    children: list[LayerNode] = field(default_factory=list)
    module: str | None = None
    registered: str | None = None

    @property
    def is_model(self) -> bool:
        return self.class_name in MODEL_CLASSES and "layers" in self.config


# Functional configs list operations (`x + y` on Keras tensors: module keras.src.ops.numpy) beside
# layers; they are not in model.layers and hold no state.
OPERATION_MODULES = ("keras.src.ops.", "keras.ops.")


def is_operation(config: dict[str, Any]) -> bool:
    """True for a config entry that is a Keras operation, not a layer."""
    module = config.get("module")
    return isinstance(module, str) and module.startswith(OPERATION_MODULES)


def to_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the group name Keras gives a class in .weights.h5."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def parse_json(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested past json's depth
        raise InputError(f"{where}: model config is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "class_name" not in data:
        raise InputError(f"{where}: not a Keras model config (no class_name)")
    return data


def layer_tree(config: dict[str, Any], parent_trainable: bool = True) -> LayerNode:
    """The LayerNode tree of a serialized layer or model (nested models recursed)."""
    inner = config.get("config") or {}
    trainable = parent_trainable and inner.get("trainable", True) is not False
    module, registered = config.get("module"), config.get("registered_name")
    node = LayerNode(
        class_name=str(config.get("class_name", "")),
        name=str(inner.get("name", "")),
        config=inner,
        trainable=trainable,
        module=module if isinstance(module, str) else None,
        registered=registered if isinstance(registered, str) else None,
    )
    if node.is_model:
        for child in inner.get("layers") or []:
            if node.class_name == "Sequential" and child.get("class_name") == "InputLayer":
                continue  # Sequential.layers has no InputLayer
            if is_operation(child):
                continue
            node.children.append(layer_tree(child, trainable))
    return node


def lambda_layers(node: LayerNode) -> list[str]:
    """Names of Lambda layers (code we never run, noted for the user)."""
    found = [node.name] if node.class_name == "Lambda" else []
    for child in node.children:
        found.extend(lambda_layers(child))
    return found


# ---- code, files and foreign objects in a config ------------------------------------------
#
# What Keras 3.15 and tf-keras 2.21 do with a config, found in their sources:
# - `Lambda` layers, `{"class_name": "__lambda__"}` and tf-keras `*function_type`/`*_fn_type`
#   "lambda" (Lambda, cell wrappers' dropout_fn/residual_fn) hold marshalled bytecode that
#   `func_load` runs; tf-keras does so from an .h5 even in safe mode.
# - `{"class_name": "function", "module": "builtins", "config": NAME}` is how both write a
#   function (Keras builtins and custom ones alike): Keras 3 looks NAME up in keras.activations,
#   losses, ... only; tf-keras then falls back to `vars(builtins)[NAME]` (eval, open, ...).
# - tf-keras imports ANY `module` a config names (`importlib.import_module`: its import code
#   runs) and takes any function from it; Keras 3 imports only keras* packages.
# - StringLookup / IntegerLookup / TextVectorization open a `vocabulary` (or `idf_weights`) given
#   as a string path when constructed; Keras 3 TFSMLayer loads a SavedModel from `filepath`.

# Keras objects never come from Python's standard library (os, subprocess, ...).
FOREIGN_MODULES = frozenset(sys.stdlib_module_names) - {"__future__", "builtins"}
PYTHON_BUILTINS = frozenset(vars(builtins))
KERAS_PACKAGES = frozenset({"keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv"})
# A function from a Keras package is a modeling function only from one of these submodules.
FUNCTION_MODULES = frozenset(
    {"activations", "initializers", "losses", "metrics", "regularizers", "constraints",
     "optimizers", "schedules", "ops", "random"}
)  # fmt: skip
# Config keys whose string value Keras or tf-keras (or keras_hub tokenizers) opens as a file.
PATH_KEYS = frozenset(
    {"vocabulary", "idf_weights", "filepath", "file_path", "filename", "path", "merges",
     "proto", "origin", "url", "directory", "export_dir", "vocab", "spm_model_file"}
)  # fmt: skip
PATH_SUFFIXES = ("_file", "_path", "_filepath", "_filename", "_dir", "_url", "_uri")
_BASE64_HEAD = re.compile(r"[A-Za-z0-9+/]{24}")


@dataclass
class Hazards:
    """What a config would make Keras or tf-keras do besides building layers.

    code: run Python code (bytecode, functions from outside Keras's modeling modules);
    files: open a file named in the config; imports: import a module outside Keras;
    foreign: objects from Python's standard library or builtins (a crafted config).
    """

    code: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def sort(self) -> Hazards:
        for name in ("code", "files", "imports", "foreign"):
            setattr(self, name, sorted(set(getattr(self, name))))
        return self


def _top(module: str) -> str:
    return module.split(".")[0].strip()


# Modules the user imported with --custom-objects (exporter.api.use_custom_objects): an
# explicit act of trust, so a config naming their classes may be loaded by Keras.
CUSTOM_MODULES: set[str] = set()


def trust_custom_modules(names: Iterable[str]) -> None:
    CUSTOM_MODULES.update(names)
    _module_kind.cache_clear()


@functools.lru_cache(maxsize=4096)
def _module_kind(module: str, cls: Any) -> str | None:
    """Which Hazards list a serialized object's `module` goes to (None: a Keras module, or one
    the user imported with --custom-objects)."""
    if _top(module) in FOREIGN_MODULES or (module == "builtins" and cls in PYTHON_BUILTINS):
        return "foreign"
    if module.strip() in CUSTOM_MODULES:
        return None
    if _top(module) not in KERAS_PACKAGES and module != "builtins":
        return "imports"
    return None


def is_marshalled_code(text: str) -> bool:
    """True for base64 text that decodes to a marshalled code object (what func_dump writes)."""
    if len(text) < 24 or text[0] not in "Y4" or not _BASE64_HEAD.match(text):
        return False
    head = base64.b64decode(text[:8])
    return (head[0] & 0x7F) == ord("c")  # marshal TYPE_CODE, with or without FLAG_REF


def _is_path_key(key: str) -> bool:
    return key in PATH_KEYS or key.endswith(PATH_SUFFIXES)


_KEY_SUFFIXES = ("function_type", "_fn_type", *PATH_SUFFIXES)


class _Label:
    """Where a finding is, as the nearest enclosing layer: formatted only when a hazard is
    found, so the walk builds no string per node."""

    __slots__ = ("item", "text")

    def __init__(self, item: dict[str, Any] | None, text: str = "") -> None:
        self.item, self.text = item, text

    def __str__(self) -> str:
        if self.item is not None:
            inner = self.item["config"]
            return f"layer {inner['name']!r} ({self.item['class_name']})"
        return self.text


def _function_hazard(item: dict[str, Any], where: _Label, found: Hazards) -> None:
    """A `{"class_name": "function"}` reference: only Keras's modeling functions pass."""
    name, module = item.get("config"), item.get("module")
    if not isinstance(module, str) or not isinstance(name, str):
        found.code.append(f"{where}: a function reference without module or name")
    elif module == "builtins":
        if name in PYTHON_BUILTINS:  # tf-keras would hand out the Python builtin itself
            found.foreign.append(f"{where}: Python builtin {name!r}")
    elif _top(module) in FOREIGN_MODULES:
        found.foreign.append(f"{where}: function {module}.{name}")
    elif _top(module) not in KERAS_PACKAGES or not FUNCTION_MODULES & set(module.split(".")):
        found.code.append(
            f"{where}: function {module}.{name} (not a Keras activation, initializer, loss or op)"
        )


def _object_hazards(item: dict[str, Any], where: _Label, found: Hazards) -> None:
    """The class, module, registered name and keys of one serialized object."""
    cls, module = item.get("class_name"), item.get("module")
    if cls == "Lambda":
        inner = item.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
        found.code.append(f"Lambda layer {name or '?'!s} (marshalled bytecode)")
    elif cls == "__lambda__":
        found.code.append(f"{where}: a __lambda__ function (marshalled bytecode)")
    elif cls == "function":
        _function_hazard(item, where, found)
    elif isinstance(module, str) and (
        kind := _module_kind(module, cls if isinstance(cls, str) else None)
    ):
        getattr(found, kind).append(f"{where}: module {module!r} ({cls})")
    registered = item.get("registered_name")
    package, mark, _ = registered.partition(">") if isinstance(registered, str) else ("", "", "")
    if mark and _top(package) in FOREIGN_MODULES:
        found.foreign.append(f"{where}: registered_name {registered!r}")
    for key, value in item.items():
        if not isinstance(value, str) or not value or not isinstance(key, str):
            continue
        if not key.endswith(_KEY_SUFFIXES) and key not in PATH_KEYS:
            continue
        if key.endswith(("function_type", "_fn_type")) and value == "lambda":
            found.code.append(f"{where}: {key} 'lambda' (marshalled bytecode)")
        elif _is_path_key(key):
            found.files.append(f"{where}: {key} {value[:80]!r}")


def _layer_label(item: dict[str, Any], where: _Label) -> _Label:
    inner = item.get("config")
    if not isinstance(inner, dict):
        return where
    name, cls = inner.get("name"), item.get("class_name")
    if isinstance(name, str) and isinstance(cls, str) and not cls.startswith("__"):
        return _Label(item)
    return where


def config_hazards(config: Any) -> Hazards:
    """Every serialized function, bytecode blob, file path and foreign module in a config.

    Walks the whole document (Keras 3 and tf-keras styles, nested models, wrappers, cells,
    compile_config), so no layer class is special-cased beyond Lambda; each finding names the
    nearest enclosing layer. The walk is iterative and linear: a stack of iterators (as deep as
    the document, never a copy of its lists) and no string built unless a hazard is found.
    """
    found = Hazards()
    stack: list[Iterator[Any]] = [iter((config,))]
    labels: list[_Label] = [_Label(None, "the model")]
    while stack:
        for item in stack[-1]:
            if isinstance(item, str):
                if len(item) >= 24 and item[0] in "Y4" and is_marshalled_code(item):
                    found.code.append(f"{labels[-1]}: marshalled bytecode")
            elif isinstance(item, dict):
                if item:
                    where = _layer_label(item, labels[-1])
                    _object_hazards(item, where, found)
                    stack.append(iter(item.values()))
                    labels.append(where)
                    break
            elif isinstance(item, list) and item:
                stack.append(iter(item))
                labels.append(labels[-1])
                break
        else:
            stack.pop()
            labels.pop()
    return found.sort()


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - 3} more" if len(items) > 3 else ""
    return "; ".join(items[:3]) + more


def audit_config(config: Any, where: str, trust: bool, *, loading: bool = False) -> list[str]:
    """Refuse a config's hazards; returns the code found (allowed by trust).

    Foreign objects are always refused. Direct reading (loading=False) never runs or opens
    anything, so only code needs --trust there. When Keras will load the config
    (loading=True), code, file paths and modules outside Keras are refused unless trust.
    """
    found = config_hazards(config)
    if found.foreign:
        raise UnsafeInputError(
            f"{where}: model config names objects outside Keras ({_listed(found.foreign)}); "
            "refused: Keras objects never come from these modules"
        )
    if trust:
        return found.code
    if found.code and not loading:
        raise UnsafeInputError(
            f"{where}: model config holds code ({_listed(found.code)}); refused. Its code is "
            "never run here: pass --trust to read the weights anyway"
        )
    if loading and (found.code or found.files or found.imports):
        _refuse_loading(found, where)
    return found.code


def _refuse_loading(found: Hazards, where: str) -> None:
    if found.code:
        what = f"holds code ({_listed(found.code)}), which Keras would run while loading it"
        what += " (tf-keras runs it even in safe mode)"
    elif found.files:
        what = f"names files ({_listed(found.files)}), which Keras would open while loading it"
    else:
        what = f"names modules outside Keras ({_listed(found.imports)}), which loading imports"
    hint = (
        "; if these are your own layers, import them with --custom-objects MODULE"
        if found.imports and not (found.code or found.files)
        else ""
    )
    raise UnsafeInputError(
        f"{where}: model config {what}; refused before Keras sees the file{hint}. Pass "
        "--trust only if you trust its origin"
    )
