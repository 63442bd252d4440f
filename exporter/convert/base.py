"""What a converter is, and the registry of converters keyed by framework."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.core.registry import Registry
from exporter.core.weightset import WeightSet

DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ConvertOptions:
    """Options of a conversion and of its numerical check.

    atol/rtol None: 1e-4/1e-3 for float32 models, 1e-9/1e-7 for float64 (--double).
    max_label_mismatch: the fraction of class labels allowed to differ (default 0: none).
    """

    opset: int | None = None  # the highest allowed; None: the converter's newest (Keras: 17)
    atol: float | None = None
    rtol: float | None = None
    max_label_mismatch: float = 0.0
    validate: bool = True
    inputs: str | None = None  # an .npz of inputs; keys = input names (or X for one input)
    samples: int = 8
    seed: int = 0
    zipmap: bool = False  # sklearn classifiers: keep skl2onnx's ZipMap (list of dicts) output
    double: bool = False  # sklearn: float64 inputs (DoubleTensorType)
    trust: bool = False  # allow pickle/joblib, Keras configs holding code or paths, SavedModels

    def tolerances(self, double: bool) -> tuple[float, float]:
        atol, rtol = (1e-9, 1e-7) if double else (1e-4, 1e-3)
        return (
            atol if self.atol is None else self.atol,
            rtol if self.rtol is None else self.rtol,
        )


@dataclass
class SourceModel:
    """A loaded source model and where it came from."""

    framework: str  # a CONVERTERS key
    model: Any
    kind: str  # keras-v3, keras-h5, keras-savedmodel, sklearn-skops, sklearn-pickle, *-object
    file: str | None = None
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Converter:
    """One framework: ONNX conversion, running the source model, inputs, weights.

    - to_onnx(source, options) -> (onnx.ModelProto, notes); UnsupportedError names the part.
    - sample_inputs(source, specs, rng, samples) -> {input name: array} of the ONNX input dtypes.
    - run(source, inputs, options) -> {output name: array}, under the names the ONNX model
      should have, in order; inputs are in ONNX input order.
    - label_outputs(source, options) -> names of outputs holding class labels (compared by mismatch).
    - weights(source) -> the source WeightSet.
    """

    framework: str
    library: str  # the converting library's distribution name, for the report
    to_onnx: Callable[[SourceModel, ConvertOptions], tuple[Any, list[str]]]
    sample_inputs: Callable[[SourceModel, list[InputSpec], np.random.Generator, int], dict]
    run: Callable[[SourceModel, dict[str, np.ndarray], ConvertOptions], dict[str, np.ndarray]]
    label_outputs: Callable[[SourceModel, ConvertOptions], set[str]]
    weights: Callable[[SourceModel], WeightSet]


@dataclass(frozen=True)
class InputSpec:
    """One ONNX graph input: name, numpy dtype, shape (None for a dynamic dimension)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": np.dtype(self.dtype).name, "shape": list(self.shape)}


CONVERTERS: Registry[Converter] = Registry("converter")


def converter(framework: str) -> Converter:
    """The converter for framework, importing its module on first use."""
    if framework not in CONVERTERS:
        import importlib

        importlib.import_module(f"{__package__}.{framework}")
    return CONVERTERS.get(framework)
