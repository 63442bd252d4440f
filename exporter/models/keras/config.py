"""Keras model configs read as data: the layer tree and each layer class's variable order.

A `.weights.h5` (layout D in FORMATS.md) stores `layers/<snake_case class>[_k]/vars/<i>` and no
variable names, so names and order come from the config: walk `config.layers`, recurse into nested
models and known wrappers, and name `vars/<i>` from the class's variable order, honouring flags
such as `use_bias`, `center`, `scale`. Nothing in a config is ever executed.
"""

from __future__ import annotations

import base64
import builtins
import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
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


@functools.lru_cache(maxsize=4096)
def _module_kind(module: str, cls: Any) -> str | None:
    """Which Hazards list a serialized object's `module` goes to (None: a Keras module)."""
    if _top(module) in FOREIGN_MODULES or (module == "builtins" and cls in PYTHON_BUILTINS):
        return "foreign"
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
    raise UnsafeInputError(
        f"{where}: model config {what}; refused before Keras sees the file. Pass --trust only "
        "if you trust its origin"
    )


# ---- variable order per layer class -------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where a layer keeps variables: its own `vars` (child None) or a tracked child layer.

    A class from the generated table (layers.json) gives `entries` instead: (dataset path
    relative to the layer's group, name relative to the layer or None when Keras numbers it
    automatically, trainable), in `layer.weights` order.

    For a child, attrs are the candidate attribute paths of its group (they differ between
    Keras 3 and tf-keras; empty for a nested model's layers, which live under `layers/`).
    """

    variables: tuple[str, ...] = ()
    non_trainable: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    child: LayerNode | None = None
    entries: tuple[tuple[str, str | None, bool], ...] = ()  # from layers.json


def _flag(cfg: dict[str, Any], key: str, default: bool = True) -> bool:
    value = cfg.get(key, default)
    return default if value is None else bool(value)


def _own(*names: str | None, frozen: tuple[str, ...] = ()) -> list[Slot]:
    return [Slot(variables=tuple(n for n in names if n), non_trainable=frozen)]


def _kernel_bias(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    slots = _own("kernel", "bias" if _flag(cfg, "use_bias") else None)
    if cfg.get("lora_rank"):
        slots = _own(*slots[0].variables, "lora_kernel_a", "lora_kernel_b")
    return slots


def _depthwise(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    kernel = "depthwise_kernel" if legacy else "kernel"  # FORMATS.md: tf-keras vs Keras 3
    return _own(kernel, "bias" if _flag(cfg, "use_bias") else None)


def _separable(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    bias = "bias" if _flag(cfg, "use_bias") else None
    return _own("depthwise_kernel", "pointwise_kernel", bias)


def _einsum_dense(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("kernel", "bias" if cfg.get("bias_axes") else None)


def _batch_norm(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    frozen = ("moving_mean", "moving_variance")
    gamma = "gamma" if _flag(cfg, "scale") else None
    beta = "beta" if _flag(cfg, "center") else None
    if cfg.get("renorm"):
        names = (gamma, beta, *frozen, "moving_stddev", "renorm_mean", "renorm_stddev")
        return _own(*names, frozen=(*frozen, "moving_stddev", "renorm_mean", "renorm_stddev"))
    return _own(gamma, beta, *frozen, frozen=frozen)


def _gamma_beta(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("gamma" if _flag(cfg, "scale") else None, "beta" if _flag(cfg, "center") else None)


def _normalization(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    if cfg.get("mean") is not None:
        return []
    frozen = ("mean", "variance", "count")
    return _own(*frozen, frozen=frozen)


def _rnn(cell_class: str, cell_name: str) -> Callable[[dict[str, Any], bool], list[Slot]]:
    def slots(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
        cell = LayerNode(cell_class, cell_name, {"use_bias": _flag(cfg, "use_bias")})
        return [Slot(attrs=("cell",), child=cell)]

    return slots


def _rnn_cell(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("kernel", "recurrent_kernel", "bias" if _flag(cfg, "use_bias") else None)


def _multi_head_attention(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    bias_axes = "x" if _flag(cfg, "use_bias") else None
    parts = (("query", "query"), ("key", "key"), ("value", "value"), ("output", "attention_output"))
    return [
        Slot(
            attrs=(f"{attr}_dense", f"_{attr}_dense"),
            child=LayerNode("EinsumDense", name, {"bias_axes": bias_axes}),
        )
        for attr, name in parts
    ]


def _wrapped(cfg: dict[str, Any], key: str) -> LayerNode:
    sub = cfg.get(key)
    if not isinstance(sub, dict):
        raise InputError(f"layer config has no {key!r}")
    return layer_tree(sub)


def _time_distributed(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return [Slot(attrs=("layer",), child=_wrapped(cfg, "layer"))]


def _bidirectional(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    """Keras 3 names the forward layer `forward_` + the wrapped name without a `forward_`
    prefix, and uses a given backward_layer (its config always holds one) as it is; tf-keras
    prefixes both, always (keras/src/layers/rnn/bidirectional.py, tf_keras's likewise)."""
    forward = _wrapped(cfg, "layer")
    given = isinstance(cfg.get("backward_layer"), dict)
    backward = _wrapped(cfg, "backward_layer" if given else "layer")
    if legacy:
        forward.name, backward.name = f"forward_{forward.name}", f"backward_{backward.name}"
    else:
        forward.name = f"forward_{forward.name.removeprefix('forward_')}"
        if not given:
            backward.name = f"backward_{backward.name.removeprefix('backward_')}"
    return [
        Slot(attrs=("forward_layer",), child=forward),
        Slot(attrs=("backward_layer",), child=backward),
    ]


def _rnn_layer(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    """keras.layers.RNN: the cell comes from the config."""
    return [Slot(attrs=("cell",), child=_wrapped(cfg, "cell"))]


LAYER_SLOTS: dict[str, Callable[[dict[str, Any], bool], list[Slot]]] = {
    "Dense": _kernel_bias,
    "Conv1D": _kernel_bias,
    "Conv2D": _kernel_bias,
    "Conv3D": _kernel_bias,
    "Conv1DTranspose": _kernel_bias,
    "Conv2DTranspose": _kernel_bias,
    "Conv3DTranspose": _kernel_bias,
    "DepthwiseConv1D": _depthwise,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable,
    "SeparableConv2D": _separable,
    "EinsumDense": _einsum_dense,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _gamma_beta,
    "GroupNormalization": _gamma_beta,
    "Normalization": _normalization,
    "Embedding": lambda cfg, legacy: _own("embeddings"),
    "PReLU": lambda cfg, legacy: _own("alpha"),
    "LSTM": _rnn("LSTMCell", "lstm_cell"),
    "GRU": _rnn("GRUCell", "gru_cell"),
    "SimpleRNN": _rnn("SimpleRNNCell", "simple_rnn_cell"),
    "LSTMCell": _rnn_cell,
    "GRUCell": _rnn_cell,
    "SimpleRNNCell": _rnn_cell,
    "MultiHeadAttention": _multi_head_attention,
    "TimeDistributed": _time_distributed,
    "Bidirectional": _bidirectional,
}
# Layers whose sub-layers come from their own config: named here, not by the generated table.
WRAPPERS: dict[str, Callable[[dict[str, Any], bool], list[Slot]]] = {
    "TimeDistributed": _time_distributed,
    "Bidirectional": _bidirectional,
    "RNN": _rnn_layer,
}
LAYER_TABLE = Path(__file__).with_name("layers.json")


@functools.lru_cache(maxsize=1)
def layer_table() -> dict[str, Any]:
    """The generated table of Keras 3 layer classes (see keras_layer_table)."""
    return json.loads(LAYER_TABLE.read_text())["layers"]


def _table_entry(node: LayerNode) -> dict[str, Any] | None:
    """The table entry of a built-in class: module and registered name must be Keras's own, so
    a custom class that shares a built-in's name is never named from the table."""
    entry = layer_table().get(node.class_name)
    if entry is None or "variants" not in entry:
        return None
    if node.registered not in (None, node.class_name):
        return None
    if entry.get("module"):
        return entry if node.module == entry["module"] else None
    return entry if node.module is None or node.module.startswith("keras.") else None


def variant_key(entry: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The table variant a config selects (as keras_layer_table.variant_key writes it): a
    boolean setting as it is, a missing or None one as the class default, any other value
    (bias_axes "x", a given mean) as on."""
    setting = {}
    for key, default in entry["flags"].items():
        value = cfg.get(key)
        setting[key] = default if value is None else value if isinstance(value, bool) else True
    return ",".join(f"{k}={int(bool(v))}" for k, v in sorted(setting.items()))


def _table_slots(node: LayerNode) -> list[Slot] | None:
    entry = _table_entry(node)
    if entry is None:
        return None
    rows = entry["variants"].get(variant_key(entry, node.config))
    if rows is None:
        return None
    return [Slot(entries=tuple((path, name, bool(flag)) for path, name, flag in rows))]


def layer_slots(node: LayerNode, legacy: bool) -> list[Slot] | None:
    """The variable slots of a layer in `layer.weights` order, or None for an unknown class.

    Keras 3: wrappers from their config, every other built-in class from the generated table.
    tf-keras (legacy): the hand-written LAYER_SLOTS (its variable names differ from Keras 3).
    """
    if node.is_model:
        return [Slot()] + [
            Slot(attrs=(group,), child=child) for group, child in model_child_groups(node)
        ]
    if node.class_name in WRAPPERS and (node.module or "keras").startswith("keras"):
        return WRAPPERS[node.class_name](node.config, legacy)
    if not legacy:
        return _table_slots(node)
    spec = LAYER_SLOTS.get(node.class_name)
    return None if spec is None else spec(node.config, legacy)


def variable_trainable(node: LayerNode, rest: list[str], legacy: bool) -> bool | None:
    """The trainable flag the class table gives variable `rest` (its path below node), or None
    when the class (or the variable) is unknown."""
    slots = layer_slots(node, legacy)
    for slot in slots or []:
        if slot.child is not None:
            if len(rest) > 1 and slot.child.name == rest[0]:
                return variable_trainable(slot.child, rest[1:], legacy)
            continue
        if len(rest) == 1 and rest[0] in slot.variables:
            return rest[0] not in slot.non_trainable
        for _, name, trainable in slot.entries:
            if name is not None and name == "/".join(rest):
                return trainable
    return None


def model_child_groups(node: LayerNode) -> Iterator[tuple[str, LayerNode]]:
    """(group path, child) of a model's layers: `layers/<snake_case class>[_k]` per class."""
    used: dict[str, int] = {}
    for child in node.children:
        base = to_snake_case(child.class_name)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        yield (f"layers/{base}" if count is None else f"layers/{base}_{count + 1}"), child
