"""exporter: get the parameters out of trained models exactly, and convert models to ONNX with proof.

import exporter
ws = exporter.load("model.keras")          # any source -> WeightSet
exporter.export(ws, "weights.npz")         # NPZ, JSON, CSV folder, safetensors
report = exporter.validate("weights.npz")  # schema, shapes, dtypes, sha256 of every tensor
results = exporter.export_many(["a.keras", "b.skops"], "out", format="npz", jobs=2)
"""

from exporter.core.errors import (
    CheckFailed,
    ExporterError,
    InputError,
    OutputExistsError,
    UnsafeInputError,
    UnsupportedError,
    UsageError,
)
from exporter.core.version import __version__

# The verbs and the WeightSet classes are imported on first use: `exporter --version` and the
# errors never pay for numpy and the readers.
_LAZY = {
    "export": "api", "inspect": "api", "load": "api", "validate": "api", "show": "show",
    "export_many": "batch",
    "ModelInfo": "core.weightset", "Tensor": "core.weightset", "WeightSet": "core.weightset",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'exporter' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "export_many",
    "inspect",
    "load",
    "show",
    "validate",
]
