"""`--test-vectors N` of the C export: N seeded input rows and the source model's own outputs
for them, written into the header (`<prefix>_test_inputs`, `<prefix>_test_outputs`) so firmware
can test itself on the device.

The model has to run, so this is the one part of a C export that loads a framework: Keras and
scikit-learn sources through exporter.convert's loaders (Keras in safe mode, pickle only with
trust), ONNX through onnxruntime on the model's bytes. Inputs are drawn as `exporter convert`
draws its check inputs (seed 0): standard normal rows for Keras and ONNX, rows from the fitted
model's own domain for scikit-learn. Models with one input and one output only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from exporter.core.errors import InputError, UnsupportedError, UsageError
from exporter.files.inputs import InputFile, read_bounded

SEED = 0
MAX_VECTORS = 1 << 16
ONNX_KINDS = ("onnx",)


def test_vectors(source: Any, count: int, trust: bool = False) -> tuple[tuple[str, Any], ...]:
    """(("inputs", x), ("outputs", y)): count seeded rows and the model's outputs for them."""
    if not 1 <= count <= MAX_VECTORS:
        raise UsageError(f"--test-vectors must be between 1 and {MAX_VECTORS}, not {count}")
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError("--test-vectors needs a model file (Keras, scikit-learn or ONNX)")
    from exporter.readers import recognise

    opened = InputFile(source)
    reader = None if opened.is_dir else recognise(opened)
    rng = np.random.default_rng(SEED)
    if reader is not None and reader.kind in ONNX_KINDS:
        inputs, outputs = _onnx(opened, count, rng)
    else:
        inputs, outputs = _framework(source, count, rng, trust)
    return (("inputs", _one(inputs, "input", source)), ("outputs", _one(outputs, "output", source)))


def _one(arrays: dict[str, Any], what: str, source: Any) -> np.ndarray:
    if len(arrays) != 1:
        raise UnsupportedError(
            f"{source}: --test-vectors handles models with one {what}; this one has "
            f"{len(arrays)} ({', '.join(arrays)})"
        )
    array = np.asarray(next(iter(arrays.values())))
    if array.dtype.kind not in "biuf":
        raise UnsupportedError(f"{source}: the model's {what} is {array.dtype}, not numbers")
    return np.ascontiguousarray(array)


def _framework(source, count: int, rng, trust: bool):
    from exporter.convert.base import ConvertOptions, InputSpec, converter
    from exporter.convert.source import load_source

    model = load_source(source, trust=trust)
    convert = converter(model.framework)
    if model.framework == "keras":
        from exporter.convert.keras import input_specs

        specs = input_specs(model.model)
    else:
        features = getattr(model.model, "n_features_in_", None)
        if not isinstance(features, int):
            raise UnsupportedError(f"{source}: the estimator does not say its number of features")
        specs = [InputSpec("X", np.dtype(np.float32), (None, features))]
    inputs = convert.sample_inputs(model, specs, rng, count)
    inputs = {name: np.asarray(value)[:count] for name, value in inputs.items()}
    if model.framework == "sklearn":
        (rows,) = inputs.values()
        return inputs, {"predict": np.asarray(model.model.predict(rows))}
    return inputs, convert.run(model, inputs, ConvertOptions())


def _onnx(opened: InputFile, count: int, rng):
    from exporter.convert.check import OnnxRunner

    data = read_bounded(opened.fd, opened.size, str(opened.path))
    runner = OnnxRunner(opened.path, data)
    inputs = {}
    for spec in runner.inputs:
        if spec.dtype.kind != "f":
            raise UnsupportedError(f"{opened.path}: input {spec.name} is {spec.dtype}, not float")
        shape = tuple(count if i == 0 else (d or 1) for i, d in enumerate(spec.shape))
        inputs[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    try:
        outputs = runner.run(inputs)
    except Exception as exc:  # onnxruntime raises its own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{opened.path}: onnxruntime cannot run it: {first}") from None
    return inputs, outputs
