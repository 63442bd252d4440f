"""Keras models through Keras's own API (imports TensorFlow/Keras when called, never on import).

Canonical names are built from the layer tree, not from `variable.path` (which loses wrapper
prefixes after loading, FORMATS.md): from each layer in `model.layers` through its tracked
sublayers to the layer that owns the variable, joining layer names, then the variable's short
name. Order is `model.weights`; values are `variable.numpy()`, exactly what get_weights() gives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exporter.core import frameworks
from exporter.core.errors import ExporterError, InputError, UnsafeInputError, UsageError
from exporter.core.weightset import ModelInfo, Note, Tensor, WeightSet
from exporter.files.inputs import CLOEXEC, NOFOLLOW, InputFile, as_input
from exporter.models.keras.hdf5 import H5PY_ERRORS
from exporter.readers import HDF5_MAGIC, ZIP_MAGIC, Probe, Reader, probe


def _short_name(variable: Any) -> str:
    name = getattr(variable, "name", None) or str(getattr(variable, "path", "var"))
    name = name.rsplit("/", 1)[-1]
    return name[:-2] if name.endswith(":0") else name


def _own_variables(layer: Any) -> list[Any]:
    for trainable, frozen in (
        ("_trainable_variables", "_non_trainable_variables"),  # Keras 3
        ("_trainable_weights", "_non_trainable_weights"),  # tf-keras
    ):
        if hasattr(layer, trainable):
            return list(getattr(layer, trainable)) + list(getattr(layer, frozen, []))
    return []


def _sublayers(layer: Any) -> list[Any]:
    subs = getattr(layer, "_layers", None)
    if subs is None:  # tf-keras
        subs = getattr(layer, "_self_tracked_trackables", [])
    return [s for s in subs if hasattr(s, "name") and hasattr(s, "weights")]


def keras_base_classes(kind: str = "Layer") -> tuple[type, ...]:
    """The Keras base classes (kind "Layer" or "Model") of the Keras frameworks this process has
    already imported (Keras 3 as `keras`, tf-keras as `tf_keras`); never imports one. An object
    of a framework nobody imported cannot exist, so an isinstance test against these accepts
    every Keras object, subclassed ones in any module included."""
    found = []
    for module_name in ("keras", "tf_keras"):
        module = sys.modules.get(module_name)
        base = getattr(getattr(module, "layers", None), "Layer", None) if module else None
        if kind == "Model" and module is not None:
            base = getattr(module, "Model", None)
        if isinstance(base, type) and base not in found:
            found.append(base)
    return tuple(found)


def is_keras_object(obj: Any) -> bool:
    """True for any keras.Model or keras.layers.Layer instance (Keras 3 or tf-keras)."""
    classes = keras_base_classes()
    return bool(classes) and isinstance(obj, classes)


def _is_model(obj: Any) -> bool:
    models = keras_base_classes("Model")
    return bool(models) and isinstance(obj, models)


def _top_layers(root: Any) -> list[Any]:
    """The layers directly under root: model.layers for a Model, the tracked sublayers
    (`_layers`) for any other Layer taken as the root."""
    return list(root.layers) if _is_model(root) else _sublayers(root)


def canonical_names(model: Any) -> dict[int, str]:
    """id(variable) -> canonical name, for every variable reachable from the model (or from a
    Layer taken as the root: its own variables by short name, its sublayers by their path)."""
    names: dict[int, str] = {}

    def walk(layer: Any, prefix: str) -> None:
        for variable in _own_variables(layer):
            names.setdefault(id(variable), f"{prefix}/{_short_name(variable)}")
        for sub in _sublayers(layer):
            walk(sub, f"{prefix}/{sub.name}")

    for variable in _own_variables(model):
        names.setdefault(id(variable), _short_name(variable))
    for layer in _top_layers(model):
        walk(layer, layer.name)
    return names


def _keras_version(model: Any) -> tuple[str, str]:
    tf_keras = sys.modules.get("tf_keras")
    if tf_keras is not None and isinstance(model, tf_keras.layers.Layer):
        return "tf-keras", tf_keras.__version__
    import keras

    return "keras", keras.__version__


def weightset_from_model(
    model: Any,
    *,
    include_optimizer: bool = False,
    kind: str = "keras-object",
    file: str | None = None,
    sha256: str | None = None,
) -> WeightSet:
    """The WeightSet of a Keras model object (Keras 3 or tf-keras)."""
    framework, version = _keras_version(model)
    info = ModelInfo(
        kind=kind,
        framework=framework,
        framework_version=version,
        model_name=model.name,
        model_class=type(model).__name__,
        file=file,
        digest=sha256,
    )
    ws = WeightSet(info=info)
    for name, variable, trainable in _named_weights(model, info):
        ws.add(_tensor(name, variable, trainable=trainable))
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        for variable in model.optimizer.variables:
            path = getattr(variable, "path", None) or variable.name
            ws.add(_tensor(f"optimizer/{path.removesuffix(':0')}", variable, trainable=False))
    return ws


def _named_weights(model: Any, info: ModelInfo) -> list[tuple[str, Any, bool]]:
    """(canonical name, variable, effective trainable flag) for every variable of
    `model.weights`, in that order. An unbuilt model is an InputError (its export would be
    empty); a variable no layer path reaches is named var<i>, said in a warning and the naming;
    names that collide are an InputError naming the variables (the export would miss one)."""
    _require_built(model)
    names = canonical_names(model)
    # The effective flag: tf-keras keeps variable.trainable True inside a frozen layer.
    trainable = {id(v) for v in model.trainable_weights}
    rows = []
    for index, variable in enumerate(model.weights):
        rows.append((names.get(id(variable)) or f"var{index}", variable, id(variable) in trainable))
    unreached = [_path(v) for v in model.weights if id(v) not in names]
    if unreached:
        info.naming = "positional"
        info.warn(
            Note(
                "keras-unreached-variables",
                f"{len(unreached)} variable(s) of {model.name!r} are owned by no layer reached from "
                f"it, named var<i> by their place in model.weights: {', '.join(unreached[:5])}",
            )
        )
    _require_distinct(model, rows)
    return rows


def _require_built(model: Any) -> None:
    """InputError when the model (or layer), or a layer inside it, has not created its
    variables yet (e.g. build(input_shape) of a subclassed model whose call() could not run):
    the export would miss them."""
    kind = "model" if _is_model(model) else "layer"
    if getattr(model, "built", True) is False:
        raise InputError(
            f"Keras {kind} {model.name!r} ({type(model).__name__}) is not built, it has no "
            "variables yet: call it on an input or build(input_shape) first"
        )
    unbuilt = _unbuilt_sublayers(model, set())
    if unbuilt:
        raise InputError(
            f"Keras {kind} {model.name!r} ({type(model).__name__}) is not built: layer(s) "
            f"{', '.join(unbuilt[:5])} inside it have no variables yet, so the export would "
            "miss them: call it on an input or build(input_shape) first"
        )


def _unbuilt_sublayers(layer: Any, seen: set[int]) -> list[str]:
    """Paths of the layers under layer (each visited once) that are not built."""
    found = []
    for sub in _sublayers(layer):
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        if getattr(sub, "built", True) is False:
            found.append(sub.name)
        found += [f"{sub.name}/{name}" for name in _unbuilt_sublayers(sub, seen)]
    return found


def _require_distinct(model: Any, rows: list[tuple[str, Any, bool]]) -> None:
    """InputError when two variables get one name: the export would hold fewer tensors than
    `model.weights`; the message names the variables that could not be told apart."""
    first: dict[str, Any] = {}
    for name, variable, _ in rows:
        if name in first:
            raise InputError(
                f"Keras model {model.name!r}: variables {_path(first[name])!r} and "
                f"{_path(variable)!r} both get the name {name!r}, so the export would hold "
                f"fewer tensors than its {len(rows)} weights; give the layers distinct names"
            )
        first[name] = variable


def _path(variable: Any) -> str:
    return str(getattr(variable, "path", None) or getattr(variable, "name", "?"))


def _tensor(name: str, variable: Any, trainable: bool | None = None) -> Tensor:
    array = variable.numpy()
    if trainable is None:
        trainable = bool(getattr(variable, "trainable", True))
    origin = getattr(variable, "path", None) or getattr(variable, "name", None)
    return Tensor(name, array.dtype, tuple(array.shape), array, trainable=trainable, origin=origin)


def load_keras_model(
    source: InputFile | str | os.PathLike, *, compile: bool = False, trust: bool = False
) -> Any:
    """keras.models.load_model in safe mode, after every check of keras_guard (archive and HDF5
    checks, config audit, implied sizes), with errors turned into one-line InputErrors.

    Keras opens files by path, so it loads a private snapshot of the opened input
    (keras_snapshot) and the guard checks that same snapshot: a path swapped after the check
    cannot give Keras a file the guard did not see. trust lets a config with code, file paths
    or modules outside Keras through to Keras (which still runs in safe mode; tf-keras runs
    such code anyway). Only files are loaded here: a SavedModel folder is code (see
    convert.keras_onnx.load_savedmodel).
    """
    from exporter.models.keras import guard as keras_guard

    source = as_input(source)
    if source.is_dir:
        raise InputError(
            f"{source.path}: Keras models are loaded here from .keras and .h5 files only"
        )
    with keras_snapshot(source) as snapshot:
        config, version = keras_guard.guard_keras_file(snapshot, trust)
        keras = _tf_keras(source.path, version) if _is_tf_keras(version) else frameworks.keras()
        try:
            return _load(keras, snapshot, compile)
        except InputError as exc:
            missing = keras_guard.unregistered_classes(keras, config)
            if not missing:
                raise
            raise InputError(
                f"{source.path}: Keras cannot load it: class {', '.join(missing)} is not "
                "registered; import the module that defines it with --custom-objects MODULE"
            ) from exc


def _load(keras: Any, path: Path, compile: bool) -> Any:
    """keras.models.load_model(path) in safe mode, its errors as one-line exporter errors."""
    try:
        return keras.models.load_model(path, safe_mode=True, compile=compile)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "unsafe" in text.lower():
            raise UnsafeInputError(
                f"{path}: refused by Keras safe mode (the model holds code, e.g. a Lambda layer)"
            ) from None
        raise InputError(f"{path}: Keras cannot load it: {text.splitlines()[0]}") from None
    except (OSError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: Keras cannot load it: {str(exc).splitlines()[0]}") from None


@contextlib.contextmanager
def keras_snapshot(source: InputFile) -> Iterator[Path]:
    """A private copy of the opened input, under the same file name (Keras picks the format by
    extension) in a new temporary folder of mode 0700: the bytes of the checked descriptor,
    copied in the kernel. Errors raised while it is in use name the user's path, not the
    copy's; the folder is deleted afterwards, also on an error or an interrupt."""
    folder = Path(tempfile.mkdtemp(prefix="exporter-keras-"))
    snapshot = folder / source.name
    try:
        copy_descriptor(source.fd, snapshot)
        try:
            yield snapshot
        except ExporterError as exc:
            raise _renamed(exc, snapshot, source.path) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def copy_descriptor(fd: int, target: Path) -> None:
    """Copy the whole file behind fd (from offset 0, whatever its position) into a new file
    target (O_EXCL, mode 0600): copy_file_range, else sendfile, else pread/write."""
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
    try:
        offset = 0
        while count := _copy_some(fd, out, offset):
            offset += count
    finally:
        os.close(out)


def _copy_some(fd: int, out: int, offset: int) -> int:
    """Copy up to 64 MiB from offset in fd to the end of out; the bytes copied (0 at the end)."""
    chunk = 1 << 26
    for copy in (_copy_file_range, _sendfile):
        try:
            return copy(fd, out, offset, chunk)
        except (OSError, AttributeError) as exc:
            if getattr(exc, "errno", errno.ENOSYS) not in _NO_KERNEL_COPY:
                raise
    data = os.pread(fd, chunk, offset)
    view, written = memoryview(data), 0
    while written < len(data):
        written += os.write(out, view[written:])
    return len(data)


_NO_KERNEL_COPY = (errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


def _copy_file_range(fd: int, out: int, offset: int, count: int) -> int:
    return os.copy_file_range(fd, out, count, offset_src=offset)


def _sendfile(fd: int, out: int, offset: int, count: int) -> int:
    return os.sendfile(out, fd, offset, count)


def _renamed(exc: ExporterError, snapshot: Path, original: Path) -> ExporterError:
    """exc with the snapshot's path in its message replaced by the user's path."""
    message = str(exc).replace(str(snapshot), str(original))
    try:
        return type(exc)(message)
    except TypeError:  # pragma: no cover - a subclass with another signature
        return exc


def _is_tf_keras(version: str | None) -> bool:
    return version is not None and not version.startswith("3")


def _tf_keras(path: Path, version: str) -> Any:
    """tf_keras, for a file saved by tf-keras (Keras 2), which Keras 3 cannot load."""
    try:
        frameworks.tensorflow()
        import tf_keras
    except ImportError:
        raise InputError(
            f"{path}: saved by tf-keras {version} (Keras 2), which Keras 3 cannot load; "
            "install tf_keras (pip install tf-keras) to use it here"
        ) from None
    return tf_keras


def read_via_keras(source: InputFile, options: Any) -> WeightSet:
    """Read a .keras / .h5 model file by loading it with Keras (safe mode)."""
    path = source.path
    head = probe(source).head
    if head.startswith(ZIP_MAGIC):
        kind = "keras-v3"
    elif head.startswith(HDF5_MAGIC):
        kind = "keras-h5"
    else:
        raise UsageError(f"{path}: --via keras reads .keras and .h5 model files only")
    model = load_keras_model(source, compile=options.include_optimizer, trust=options.trust)
    return weightset_from_model(
        model,
        include_optimizer=options.include_optimizer,
        kind=kind,
        file=source.name,
        sha256=source.digest(),  # the descriptor the snapshot was copied from
    )


def _is_keras_file(found: Probe) -> bool:
    return found.head.startswith((ZIP_MAGIC, HDF5_MAGIC))


# --via keras (readers.VIA_KERAS): not registered, so never part of detection.
VIA_KERAS = Reader(
    "keras-api", _is_keras_file, read_via_keras, "Keras file loaded through Keras", H5PY_ERRORS
)
