"""Keras models (and TensorFlow SavedModels) to ONNX through tf2onnx.

The path is the one in FORMATS.md ("Conversion facts"): a `tf.function` over
`model(x, training=False)` with an explicit input signature whose batch dimension is None, then
`tf2onnx.convert.from_function`. (`from_keras` fails on Keras 3 Sequential models.) The function
returns a dict keyed by the model's output names, so tf2onnx names the ONNX outputs after them;
tf2onnx orders dict outputs by key, so the graph outputs are put back in the model's order.

tf2onnx's optimizer deep-copies the whole graph before every pass while `catch_errors` is on (its
default): for ResNet50 that is 24 s and 7 GB instead of 14 s and 4 GB. We convert with
TF2ONNX_CATCH_ERRORS=FALSE and, should an optimizer pass then fail, convert once more with
tf2onnx's default so the model still converts (and say so in the report).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from exporter.convert.base import (
    CONVERTERS,
    DEFAULT_OPSET,
    Converter,
    ConvertOptions,
    InputSpec,
    SourceModel,
)
from exporter.core import frameworks
from exporter.core.errors import InputError, UnsafeInputError, UnsupportedError, UsageError, require
from exporter.core.weightset import Tensor, WeightSet

ID_RANGE_DEFAULT = 10  # integer inputs without an Embedding to bound them: ids in [0, 10)
SAMPLE_DIM = 8  # dynamic non-batch dimensions (sequence length) in seeded inputs


class SavedModel:
    """A TensorFlow SavedModel's serving signature, called like a model with named inputs."""

    def __init__(self, path: Path, loaded: Any, signature: Any):
        self.path = path
        self.loaded = loaded  # keeps the variables alive
        self.signature = signature
        self.input_specs = signature.structured_input_signature[1]
        # Keras's model.export names outputs output_0, output_1, ... by position; the signature's
        # dict does not keep that order, so sort numerically.
        self.output_names = sorted(signature.structured_outputs, key=_natural)

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.signature(**inputs)


def _natural(name: str) -> list[Any]:
    # ASCII digits only: the regex digit class and str.isdigit take "²", which int() refuses
    return [int(part) if part.isascii() and part.isdigit() else part
            for part in re.split(r"([0-9]+)", name)]  # fmt: skip


def load_savedmodel(path: Path, trust: bool) -> SavedModel:
    """The serving_default signature of a SavedModel folder; only with trust.

    A SavedModel is code: `tf.saved_model.load` runs the graph's restore and initializer ops
    (asset and table initializers, variable initializers) while it loads, and those can read
    and write any file (tf.io.write_file) before anything here could look at the graph. So it is
    refused without --trust, and with it nothing in it can be checked first: trust means trust.
    """
    if not trust:
        raise UnsafeInputError(
            f"{path}: a TensorFlow SavedModel is code: loading it runs its graph's ops, which "
            "can read and write files; refused. Pass --trust only if you trust its origin, or "
            "convert the .keras/.h5 model instead"
        )
    tf = frameworks.tensorflow()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise InputError(f"{path}: TensorFlow cannot load this SavedModel ({exc})") from None
    signatures = dict(getattr(loaded, "signatures", {}))
    if "serving_default" not in signatures:
        raise UnsupportedError(
            f"{path}: the SavedModel has no serving_default signature "
            f"(has: {', '.join(signatures) or 'none'}); export it with model.export(path)"
        )
    return SavedModel(path, loaded, signatures["serving_default"])


def input_specs(model: Any) -> list[InputSpec]:
    """The model's inputs with a dynamic (None) batch dimension."""
    if isinstance(model, SavedModel):
        return [
            InputSpec(name, np.dtype(spec.dtype.as_numpy_dtype), (None, *spec.shape[1:]))
            for name, spec in model.input_specs.items()
        ]
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise UsageError(
            f"Keras model {model.name!r} has no defined inputs; build it with keras.Input first"
        )
    return [InputSpec(t.name, _numpy_dtype(model, t), (None, *t.shape[1:])) for t in inputs]


def _numpy_dtype(model: Any, tensor: Any) -> np.dtype:
    """The NumPy dtype of a model input; a string input (TextVectorization, StringLookup) has
    none and ONNX conversion of it is refused (UnsupportedError) naming the input."""
    dtype = getattr(tensor.dtype, "name", None) or str(tensor.dtype)
    try:
        result = np.dtype(dtype)
    except TypeError:
        result = np.dtype(object)
    if result.kind in "OSUV":
        raise UnsupportedError(
            f"Keras model {model.name!r}: input {tensor.name!r} is of type {dtype}; only numeric "
            "inputs convert to ONNX: convert the model after its string preprocessing layers"
        )
    return result


def output_names(model: Any) -> list[str]:
    """The model's output names (Keras: the output layers' names), in the model's order."""
    if isinstance(model, SavedModel):
        return model.output_names
    names = getattr(model, "output_names", None)
    if not names:
        outputs = model.outputs
        names = [model.layers[-1].name] if len(outputs) == 1 else [t.name for t in outputs]
    names = list(names)
    if len(set(names)) != len(names):
        raise UnsupportedError(f"Keras model {model.name!r} has duplicate output names {names}")
    return names


def _call(source: SourceModel, arrays: list[Any]) -> list[Any]:
    """Run the model on positional inputs, returning its outputs as a list in model order."""
    model = source.model
    if isinstance(model, SavedModel):
        result = model(dict(zip(model.input_specs, arrays, strict=True)))
        return [result[name] for name in model.output_names]
    result = model(arrays if len(arrays) > 1 else arrays[0], training=False)
    if isinstance(result, dict):
        return [result[name] for name in output_names(model)]
    return list(frameworks.keras().tree.flatten(result))


def to_onnx(source: SourceModel, options: ConvertOptions) -> tuple[Any, list[str]]:
    """The ONNX ModelProto of a Keras model or SavedModel, made by tf2onnx.from_function."""
    tf = frameworks.tensorflow()
    tf2onnx = require("tf2onnx", "convert")
    specs = input_specs(source.model)
    names = output_names(source.model)
    signature = [
        tf.TensorSpec(spec.shape, tf.as_dtype(spec.dtype), name=spec.name) for spec in specs
    ]

    def outputs(*arrays: Any) -> dict[str, Any]:
        return dict(zip(names, _call(source, list(arrays)), strict=True))

    function = tf.function(outputs, input_signature=signature)
    notes: list[str] = []
    with _quiet_tf2onnx():
        try:
            with _catch_errors_off():
                proto, _ = tf2onnx.convert.from_function(
                    function, input_signature=signature, opset=options.opset or DEFAULT_OPSET
                )
        except Exception as first:
            try:  # tf2onnx's own default: optimizer passes that fail are skipped
                proto, _ = tf2onnx.convert.from_function(
                    function, input_signature=signature, opset=options.opset or DEFAULT_OPSET
                )
            except Exception as exc:
                raise _unsupported(source, exc) from None
            notes.append(
                f"tf2onnx optimizer failed without catch_errors ({type(first).__name__}); "
                "converted again with tf2onnx's default settings"
            )
    notes.extend(_freeze_captured(proto, function.get_concrete_function(*signature), specs))
    _check_ops(proto, source)
    _order_outputs(proto, names)
    return proto, notes


def _freeze_captured(proto: Any, concrete: Any, specs: list[InputSpec]) -> list[str]:
    """Constants the function captures from Python (Keras 3 Normalization(mean=..., variance=...)
    in EfficientNet) come out of tf2onnx as extra graph inputs: a model users could not run
    without feeding them. Make used ones initializers and drop unused ones."""
    from onnx import numpy_helper

    own = {spec.name for spec in specs}
    captured = {}
    placeholders = concrete.inputs[len(concrete.inputs) - len(concrete.captured_inputs) :]
    for placeholder, value in zip(placeholders, concrete.captured_inputs, strict=True):
        if value.dtype.name != "resource":
            captured[placeholder.name] = value
    used = {name for node in proto.graph.node for name in node.input}
    frozen, dropped = [], []
    for graph_input in list(proto.graph.input):
        if graph_input.name in own or graph_input.name not in captured:
            continue
        proto.graph.input.remove(graph_input)
        if graph_input.name in used:
            array = np.asarray(captured[graph_input.name].numpy())
            proto.graph.initializer.append(numpy_helper.from_array(array, graph_input.name))
            frozen.append(graph_input.name)
        else:  # tf2onnx already folded the value in: a dangling input
            dropped.append(graph_input.name)
    notes = []
    if frozen:
        notes.append(f"captured constants made initializers: {', '.join(frozen)}")
    if dropped:
        notes.append(f"unused graph inputs for captured constants removed: {', '.join(dropped)}")
    return notes


@contextlib.contextmanager
def _catch_errors_off() -> Iterator[None]:
    """TF2ONNX_CATCH_ERRORS=FALSE for the duration (tf2onnx reads it per conversion)."""
    key = "TF2ONNX_CATCH_ERRORS"
    before = os.environ.get(key)
    os.environ[key] = "FALSE"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    """tf2onnx logs every unsupported op at ERROR level; we raise one clear error instead."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unsupported(source: SourceModel, exc: Exception) -> Exception:
    """tf2onnx's failure as one line with its real cause (error_cause)."""
    from exporter.convert.pipeline import error_cause

    what = source.file or getattr(source.model, "name", "model")
    cause = error_cause(exc)
    return UnsupportedError(f"{what}: tf2onnx cannot convert it: {type(exc).__name__}: {cause}")


def _check_ops(proto: Any, source: SourceModel) -> None:
    """tf2onnx leaves ops it cannot convert in the graph as they are: name them and refuse."""
    import onnx

    bad: dict[str, list[str]] = {}
    for node in proto.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, domain):
            bad.setdefault(node.op_type, []).append(node.name)
    if bad:
        what = source.file or getattr(source.model, "name", "model")
        parts = "; ".join(f"{op} (at {', '.join(nodes[:3])})" for op, nodes in sorted(bad.items()))
        raise UnsupportedError(
            f"{what}: tf2onnx cannot convert TensorFlow op {parts}; replace that layer "
            "or register a custom tf2onnx handler"
        )


def _order_outputs(proto: Any, names: list[str]) -> None:
    by_name = {output.name: output for output in proto.graph.output}
    if set(by_name) != set(names):
        raise UnsupportedError(
            f"tf2onnx named the outputs {sorted(by_name)}, expected the model's {names}"
        )
    ordered = [by_name[name] for name in names]
    copies = [type(o)() for o in ordered]
    for copy, original in zip(copies, ordered, strict=True):
        copy.CopyFrom(original)
    del proto.graph.output[:]
    proto.graph.output.extend(copies)


def run(
    source: SourceModel, inputs: dict[str, np.ndarray], options: ConvertOptions
) -> dict[str, np.ndarray]:
    """The source model's outputs on inputs (in ONNX input order), by output name."""
    results = _call(source, list(inputs.values()))
    return {
        name: np.asarray(value)
        for name, value in zip(output_names(source.model), results, strict=True)
    }


def sample_inputs(
    source: SourceModel, specs: list[InputSpec], rng: np.random.Generator, samples: int
) -> dict[str, np.ndarray]:
    """Seeded inputs: standard normal floats; integer ids within the smallest Embedding's range."""
    arrays = {}
    for spec in specs:
        shape = tuple(samples if i == 0 else (d or SAMPLE_DIM) for i, d in enumerate(spec.shape))
        if np.issubdtype(spec.dtype, np.integer):
            arrays[spec.name] = rng.integers(0, _id_range(source.model), shape).astype(spec.dtype)
        elif spec.dtype == np.bool_:
            arrays[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            arrays[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    return arrays


def _id_range(model: Any) -> int:
    dims = [
        layer.input_dim
        for layer in getattr(model, "_flatten_layers", lambda: [])()
        if hasattr(layer, "input_dim") and isinstance(layer.input_dim, int)
    ]
    return min(dims) if dims else ID_RANGE_DEFAULT


def weights(source: SourceModel) -> WeightSet:
    """The source WeightSet (canonical Keras names; a SavedModel's variable names)."""
    from exporter.models.keras.api import weightset_from_model

    model = source.model
    if not isinstance(model, SavedModel):
        return weightset_from_model(model)
    ws = WeightSet()
    for variable in model.signature.variables:
        array = variable.numpy()
        name = variable.name.removesuffix(":0")
        if name not in ws:
            ws.add(Tensor.from_array(name, array))
    return ws


CONVERTERS.register(
    "keras",
    Converter(
        framework="keras",
        library="tf2onnx",
        to_onnx=to_onnx,
        sample_inputs=sample_inputs,
        run=run,
        label_outputs=lambda source, options: set(),
        weights=weights,
    ),
)
