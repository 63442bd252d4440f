"""The model to convert or verify against: a file the reader registry recognises, a SavedModel
folder, or a Keras model / scikit-learn estimator in memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from exporter.convert.base import SourceModel
from exporter.core.errors import InputError, UnsupportedError
from exporter.files.inputs import InputFile, sha256_fd
from exporter.readers import recognise

# What convert does with each source kind the reader registry recognises: the framework that
# loads it, and the kind the report names. A bare .weights.h5 goes to Keras too, which says
# that it holds no model to load.
CONVERTIBLE = {
    "keras-v3": ("keras", "keras-v3"),
    "keras-h5": ("keras", "keras-h5"),
    "keras-weights-h5": ("keras", "keras-h5"),
    "sklearn-skops": ("sklearn", "sklearn-skops"),
    "sklearn-pickle": ("sklearn", "sklearn-pickle"),
}
NOT_CONVERTIBLE = (
    "not a model exporter converts (Keras .keras/.h5/SavedModel, scikit-learn .skops or pickle)"
)


def load_source(source: Any, trust: bool = False) -> SourceModel:
    """A Keras model (.keras, .h5, SavedModel folder) or scikit-learn estimator (.skops, pickle
    with trust), from a path or an in-memory object."""
    if not isinstance(source, (str, os.PathLike)):
        return object_source(source)
    opened = InputFile(source)  # recognised, hashed and loaded from this one descriptor
    if opened.is_dir:
        return _savedmodel(opened.path, trust)
    reader = recognise(opened)
    if reader is None or reader.kind not in CONVERTIBLE:
        raise InputError(f"{opened.path}: {NOT_CONVERTIBLE}")
    framework, kind = CONVERTIBLE[reader.kind]
    sha = sha256_fd(opened.fd)
    if framework == "sklearn":
        from exporter.models.sklearn.files import load_estimator

        estimator = object_source(load_estimator(opened, trust)).model
        return SourceModel("sklearn", estimator, kind, opened.path.name, sha)
    from exporter.models.keras.api import load_keras_model

    model = load_keras_model(opened, trust=trust)
    return SourceModel("keras", model, kind, opened.path.name, sha)


def _savedmodel(path: Path, trust: bool) -> SourceModel:
    if not (path / "saved_model.pb").is_file():
        raise InputError(f"{path}: a folder, but not a TensorFlow SavedModel (no saved_model.pb)")
    from exporter.convert.keras import load_savedmodel

    model = load_savedmodel(path, trust)
    return SourceModel("keras", model, "keras-savedmodel", path.name, None)


def object_source(obj: Any) -> SourceModel:
    """A Keras model or scikit-learn estimator in memory."""
    module = type(obj).__module__.split(".")[0]
    if module in ("keras", "tf_keras", "tensorflow"):
        return SourceModel("keras", obj, "keras-object")
    if module == "sklearn" or hasattr(obj, "get_params"):
        return SourceModel("sklearn", obj, "sklearn-object")
    raise UnsupportedError(
        f"cannot convert a {type(obj).__module__}.{type(obj).__name__}: exporter converts Keras "
        "models and scikit-learn estimators"
    )
