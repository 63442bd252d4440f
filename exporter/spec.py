"""Contracts: the names, shapes and dtypes a downstream tool relies on, and checking a source.

A spec is either an export manifest or a small spec file (schemas/spec-1.schema.json):
    {"format": "exporter.spec", "format_version": "1.0.0",
     "tensors": [{"name": "dense/kernel", "shape": [10, 64], "dtype": "float32"}, ...],
     "allow_extra": false}
A shape entry of null matches any size in that dimension.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.core.errors import InputError
from exporter.core.weightset import WeightSet
from exporter.files.publish import atomic_file
from exporter.formats import manifest as mf
from exporter.formats import schemas

SPEC_FORMAT = "exporter.spec"
SPEC_VERSION = "1.0.0"
SPEC_SCHEMA = "spec-1.schema.json"


def spec_of(ws: WeightSet) -> dict[str, Any]:
    """The spec of a WeightSet: every tensor's name, shape and dtype, in order."""
    spec = {
        "format": SPEC_FORMAT,
        "format_version": SPEC_VERSION,
        "source": {k: v for k, v in {"kind": ws.info.kind, "file": ws.info.file,
                                      "model_name": ws.info.model_name}.items() if v},
        "allow_extra": False,
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype_name} for t in ws],
    }  # fmt: skip
    schemas.check(spec, SPEC_SCHEMA, "spec")
    return spec


def write_spec(ws: WeightSet, out: str | os.PathLike, *, force: bool = False) -> dict[str, Any]:
    """Write the spec of ws to out (JSON), atomically."""
    spec = spec_of(ws)
    with atomic_file(out, force=force) as tmp:
        tmp.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec


def load_spec(path: str | os.PathLike) -> dict[str, Any]:
    """A spec from a spec file, an export manifest (manifest.json) or an export's own manifest."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".json":
        from exporter.files.archive import parse_document, read_document

        document = parse_document(read_document(path), str(path))
        if isinstance(document, dict) and document.get("format") == SPEC_FORMAT:
            schemas.check(document, SPEC_SCHEMA, f"{path}")
            return document
        if isinstance(document, dict) and document.get("format") == mf.FORMAT:
            return _from_manifest(mf.check(document, str(path)))
    from exporter.readers import read_path

    manifest = read_path(path).info.extra.get("manifest")
    if manifest is None:
        raise InputError(f"{path}: not a spec, a manifest or an export with a manifest")
    return _from_manifest(manifest)


def _from_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    tensors = [{k: t[k] for k in ("name", "shape", "dtype")} for t in manifest["tensors"]]
    return {"format": SPEC_FORMAT, "format_version": SPEC_VERSION, "allow_extra": False,
            "tensors": tensors}  # fmt: skip


@dataclass
class CheckReport:
    """Every violation of a spec by a source."""

    source: str
    spec: str
    violations: list[dict[str, str]] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "spec": self.spec, "ok": self.ok, "checked": self.checked,
                "violations": self.violations}  # fmt: skip


def _shape_matches(actual: tuple[int, ...], wanted: list[int | None]) -> bool:
    return len(actual) == len(wanted) and all(
        w is None or w == a for a, w in zip(actual, wanted, strict=True)
    )


def check(
    ws: WeightSet, spec: dict[str, Any], *, source: str = "", spec_name: str = ""
) -> CheckReport:
    """Check ws against spec; the report lists every violation (missing, extra, shape, dtype)."""
    report = CheckReport(source, spec_name)
    wanted = {t["name"]: t for t in spec["tensors"]}
    for name, entry in wanted.items():
        report.checked += 1
        if name not in ws:
            report.violations.append({"tensor": name, "problem": "missing"})
            continue
        tensor = ws[name]
        if not _shape_matches(tuple(tensor.shape), entry["shape"]):
            report.violations.append({"tensor": name, "problem": f"shape {list(tensor.shape)}, spec says {entry['shape']}"})  # fmt: skip
        if tensor.dtype_name != entry["dtype"]:
            report.violations.append({"tensor": name, "problem": f"dtype {tensor.dtype_name}, spec says {entry['dtype']}"})  # fmt: skip
    if not spec.get("allow_extra", False):
        for name in ws.names():
            if name not in wanted:
                report.violations.append({"tensor": name, "problem": "not in the spec (extra)"})
    return report
