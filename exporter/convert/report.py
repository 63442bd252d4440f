"""The conversion report: what convert or verify found, as one JSON document (schema
conversion-report-1) and one ✓/✗ line per output for people."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporter.convert.base import SourceModel
from exporter.convert.check import OutputCheck
from exporter.core.errors import CheckFailed
from exporter.core.version import __version__
from exporter.files.publish import atomic_file

REPORT_FORMAT = "exporter.conversion-report"
REPORT_VERSION = "1.0.0"
REPORT_SCHEMA = "conversion-report-1.schema.json"
LIBRARIES = {
    "keras": ("tensorflow", "keras", "tf2onnx"),
    "sklearn": ("scikit-learn", "skl2onnx"),
}


@dataclass
class ConversionReport:
    """What a conversion or verification found; `ok` is False when any check failed."""

    document: dict[str, Any]
    checks: list[OutputCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.document["ok"])

    def to_json(self) -> dict[str, Any]:
        return self.document

    def lines(self) -> list[str]:
        """One ✓/✗ line per output, for people."""
        return [check.line() for check in self.checks]

    def raise_for_failure(self) -> None:
        """Raise CheckFailed naming the outputs that did not match."""
        if not self.ok:
            failed = [c.name for c in self.checks if not c.ok]
            onnx = self.document["onnx"]["file"]
            raise CheckFailed(f"{onnx}: outputs differ from the source model: {', '.join(failed)}")

    def write(self, path: str | os.PathLike, force: bool = False) -> None:
        """Write the report as JSON (schema-checked), atomically."""
        from exporter.formats.schemas import check

        check(self.document, REPORT_SCHEMA, "conversion report")
        with atomic_file(path, force=force) as tmp:
            tmp.write_text(json.dumps(self.document, indent=2, ensure_ascii=False) + "\n")


def report_document(
    model: SourceModel,
    command: str,
    onnx: dict[str, Any],
    validation: dict[str, Any],
    weights: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """The report's JSON document; ok when the check passed (or did not run)."""
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "command": command,
        "ok": validation.get("ok", True),
        "producer": {"name": "exporter", "version": __version__, "libraries": _versions(model)},
        "source": _source_json(model),
        "onnx": onnx,
        "validation": validation,
        "weights": weights,
        "notes": notes,
    }


def array_json(name: str, array: np.ndarray) -> dict[str, Any]:
    return {"name": name, "dtype": array.dtype.name, "shape": list(array.shape)}


def finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no Infinity/NaN: such errors are recorded as null (the problem says why)."""
    for key in ("max_abs_error", "max_rel_error"):
        if row[key] is not None and not np.isfinite(row[key]):
            row[key] = None
    return row


def _source_json(model: SourceModel) -> dict[str, Any]:
    obj = model.model
    return {
        "kind": model.kind,
        "framework": model.framework,
        "model_class": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "model_name": getattr(obj, "name", None) if model.framework == "keras" else None,
        "file": model.file,
        "sha256": model.sha256,
    }


def onnx_json(path: Path, proto: Any, converter_library: str | None, sha256: str) -> dict[str, Any]:
    """The ONNX model's part of the report: file, hash, producer, opsets, inputs and outputs."""
    initializers = {t.name for t in proto.graph.initializer}
    return {
        "file": path.name,
        "sha256": sha256,
        "converter": converter_library,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip() or None,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in proto.opset_import},
        "inputs": [_value_info(v) for v in proto.graph.input if v.name not in initializers],
        "outputs": [_value_info(v) for v in proto.graph.output],
    }


def _value_info(value: Any) -> dict[str, Any]:
    from onnx import helper

    kind = value.type.WhichOneof("value")
    row: dict[str, Any] = {"name": value.name, "dtype": None, "shape": None}
    if kind == "tensor_type":
        tensor = value.type.tensor_type
        row["dtype"] = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        if tensor.HasField("shape"):
            row["shape"] = [
                d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
            ]
    else:
        row["dtype"] = kind
    return row


def _versions(model: SourceModel) -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in (*LIBRARIES[model.framework], "onnx", "onnxruntime"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            alt = {"tensorflow": "tensorflow-cpu"}.get(name)
            if alt:
                with contextlib.suppress(metadata.PackageNotFoundError):
                    found[name] = metadata.version(alt)
    return found
