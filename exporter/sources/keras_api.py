"""Keras models through Keras's own API (imports TensorFlow/Keras when called, never on import).

Canonical names are built from the layer tree, not from `variable.path` (which loses wrapper
prefixes after loading, FORMATS.md): from each layer in `model.layers` through its tracked
sublayers to the layer that owns the variable, joining layer names, then the variable's short
name. Order is `model.weights`; values are `variable.numpy()`, exactly what get_weights() gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import frameworks
from ..errors import InputError, UnsafeInputError, UsageError
from ..hashing import file_sha256
from ..weightset import ModelInfo, Tensor, WeightSet


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


def canonical_names(model: Any) -> dict[int, str]:
    """id(variable) -> canonical name, for every variable reachable from the model."""
    names: dict[int, str] = {}

    def walk(layer: Any, prefix: str) -> None:
        for variable in _own_variables(layer):
            names.setdefault(id(variable), f"{prefix}/{_short_name(variable)}")
        for sub in _sublayers(layer):
            walk(sub, f"{prefix}/{sub.name}")

    for variable in _own_variables(model):
        names.setdefault(id(variable), _short_name(variable))
    for layer in model.layers:
        walk(layer, layer.name)
    return names


def _keras_version(model: Any) -> tuple[str, str]:
    module = type(model).__module__.split(".")[0]
    if module == "tf_keras":
        import tf_keras

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
        sha256=sha256,
    )
    names = canonical_names(model)
    # The effective flag: tf-keras keeps variable.trainable True inside a frozen layer.
    trainable = {id(v) for v in model.trainable_weights}
    ws = WeightSet(info=info)
    for index, variable in enumerate(model.weights):
        name = names.get(id(variable)) or f"var{index}"
        ws.add(_tensor(name, variable, trainable=id(variable) in trainable))
    if include_optimizer and getattr(model, "optimizer", None) is not None:
        for variable in model.optimizer.variables:
            path = getattr(variable, "path", None) or variable.name
            ws.add(_tensor(f"optimizer/{path.removesuffix(':0')}", variable, trainable=False))
    return ws


def _tensor(name: str, variable: Any, trainable: bool | None = None) -> Tensor:
    array = variable.numpy()
    if trainable is None:
        trainable = bool(getattr(variable, "trainable", True))
    origin = getattr(variable, "path", None) or getattr(variable, "name", None)
    return Tensor(name, array.dtype, tuple(array.shape), array, trainable=trainable, origin=origin)


def load_keras_model(path: Path, *, compile: bool = False, trust: bool = False) -> Any:
    """keras.models.load_model in safe mode, after every check of keras_guard (archive and HDF5
    checks, config audit, implied sizes), with errors turned into one-line InputErrors.

    trust lets a config with code, file paths or modules outside Keras through to Keras (which
    still runs in safe mode; tf-keras runs such code anyway). Only files are loaded here: a
    SavedModel folder is code (see convert.keras_onnx.load_savedmodel).
    """
    from .keras_guard import guard_keras_file

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: Keras models are loaded here from .keras and .h5 files only")
    _, version = guard_keras_file(path, trust)
    keras = _tf_keras(path, version) if _is_tf_keras(version) else frameworks.keras()
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


def read_via_keras(path: Path, options: Any) -> WeightSet:
    """Read a .keras / .h5 model file by loading it with Keras (safe mode)."""
    from . import HDF5_MAGIC, ZIP_MAGIC, probe

    head = probe(path).head
    if head.startswith(ZIP_MAGIC):
        kind = "keras-v3"
    elif head.startswith(HDF5_MAGIC):
        kind = "keras-h5"
    else:
        raise UsageError(f"{path}: --via keras reads .keras and .h5 model files only")
    model = load_keras_model(path, compile=options.include_optimizer, trust=options.trust)
    return weightset_from_model(
        model,
        include_optimizer=options.include_optimizer,
        kind=kind,
        file=path.name,
        sha256=file_sha256(path),
    )
