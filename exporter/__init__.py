"""exporter: get the parameters out of trained models exactly, and convert models to ONNX with proof.

import exporter
ws = exporter.load("model.keras")          # any source -> WeightSet
exporter.export(ws, "weights.npz")         # NPZ, JSON, CSV folder, safetensors
report = exporter.validate("weights.npz")  # schema, shapes, dtypes, sha256 of every tensor
"""

__version__ = "0.1.0"

from .api import export, inspect, load, validate
from .errors import (
    CheckFailed,
    ExporterError,
    InputError,
    OutputExistsError,
    UnsafeInputError,
    UnsupportedError,
    UsageError,
)
from .weightset import ModelInfo, Tensor, WeightSet

__all__ = [
    "CheckFailed",
    "ExporterError",
    "InputError",
    "ModelInfo",
    "OutputExistsError",
    "Tensor",
    "UnsafeInputError",
    "UnsupportedError",
    "UsageError",
    "WeightSet",
    "__version__",
    "export",
    "inspect",
    "load",
    "validate",
]
