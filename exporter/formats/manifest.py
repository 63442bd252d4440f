"""The export manifest (format version 1): built from a WeightSet, checked against its schema."""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.core.dtypes import dtype_name
from exporter.core.errors import InputError, UsageError
from exporter.core.version import __version__
from exporter.core.weightset import ModelInfo, Tensor
from exporter.formats import schemas

FORMAT = "exporter.weights"
FORMAT_VERSION = "1.0.0"
MAJOR = 1


@dataclass
class TensorEntry:
    """What the manifest says about one tensor once it has been written."""

    tensor: Tensor
    sha256: str
    location: str

    def to_json(self) -> dict[str, Any]:
        t = self.tensor
        entry: dict[str, Any] = {
            "name": t.name,
            "dtype": dtype_name(t.dtype),
            "shape": [int(n) for n in t.shape],
            "sha256": self.sha256,
            "location": self.location,
        }
        if t.trainable is not None:
            entry["trainable"] = bool(t.trainable)
        if t.origin is not None:
            entry["origin"] = t.origin
        return entry


def created_at(explicit: str | None = None) -> str | None:
    """The timestamp to record: an explicit one, else SOURCE_DATE_EPOCH, else none (reproducible)."""
    if explicit:
        try:
            stamp = _dt.datetime.fromisoformat(explicit.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--created-at {explicit!r} is not an ISO 8601 date-time") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=_dt.timezone.utc)
        return stamp.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            if not (epoch.isascii() and epoch.strip().lstrip("-").isdigit()):
                raise ValueError(epoch)
            stamp = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise UsageError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since 1970 (ASCII "
                "digits, within the years 1-9999)"
            ) from None
        return stamp.isoformat().replace("+00:00", "Z")
    return None


def jsonable(value: Any) -> Any:
    """value with numpy scalars/arrays, tuples and other objects turned into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def build(
    info: ModelInfo,
    entries: list[TensorEntry],
    *,
    layout: str | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """The manifest for written entries, validated against the schema."""
    libraries = {"numpy": np.__version__}
    if info.framework and info.framework_version:
        libraries[info.framework] = info.framework_version
    source: dict[str, Any] = {"kind": info.kind}
    for key in ("file", "sha256", "framework", "framework_version", "model_name", "model_class"):
        value = getattr(info, key)
        if value is not None:
            source[key] = value
    if info.extra:
        source["info"] = jsonable(info.extra)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "producer": {"name": "exporter", "version": __version__, "libraries": libraries},
    }
    stamp = created_at(created)
    if stamp:
        manifest["created_at"] = stamp
    manifest["source"] = source
    manifest["naming"] = info.naming
    if info.warnings:
        manifest["warnings"] = list(info.warnings)
    if layout:
        manifest["layout"] = layout
    manifest["tensors"] = [e.to_json() for e in entries]
    manifest["totals"] = {
        "tensors": len(entries),
        "parameters": sum(e.tensor.size for e in entries),
        "bytes": sum(e.tensor.nbytes for e in entries),
    }
    schemas.check(manifest, schemas.MANIFEST, "manifest")
    return manifest


def dumps(manifest: dict[str, Any]) -> str:
    """Canonical JSON text of a manifest (stable key order as built, 2-space indent, newline)."""
    return json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def parse(text: str | bytes, where: str) -> dict[str, Any]:
    """A manifest read from a file, checked: format, supported major version, schema."""
    try:
        manifest = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: manifest is not valid JSON ({exc})") from None
    return check(manifest, where)


def check(manifest: Any, where: str) -> dict[str, Any]:
    """A manifest already parsed (inside a JSON export or a spec), checked like parse() does."""
    check_header(manifest, where)
    schemas.check(manifest, schemas.MANIFEST, f"{where}: manifest")
    return manifest


def check_header(manifest: Any, where: str) -> None:
    """Refuse documents that are not exporter manifests or are from a newer major version."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"{where}: not an exporter manifest (format is not {FORMAT!r})")
    version = str(manifest.get("format_version", ""))
    try:
        head = version.split(".")[0]
        if not (head.isascii() and head.isdigit()):
            raise ValueError(version)
        major = int(head)
    except ValueError:
        raise InputError(f"{where}: bad format_version {version!r}") from None
    if major != MAJOR:
        raise InputError(
            f"{where}: format version {version} is not supported by exporter {__version__} "
            f"(reads {MAJOR}.x); upgrade exporter to read it"
        )


# Warnings about how an earlier file was read (its data against its own manifest) describe that
# file, not this export: they stay in the record of where it came from, not in new warnings.
READ_WARNINGS = (
    "data does not match the manifest's sha256",
    "not listed in the manifest",
    "plain .npz without a manifest",
)


def info_from_manifest(manifest: dict[str, Any], kind: str, file: str | None) -> ModelInfo:
    """ModelInfo of an export read back: the original source is kept in extra['exported_from']."""
    src = manifest["source"]
    warnings = list(manifest.get("warnings", []))
    inherited = [w for w in warnings if not any(text in w for text in READ_WARNINGS)]
    info = ModelInfo(
        kind=kind,
        framework=src.get("framework"),
        framework_version=src.get("framework_version"),
        model_name=src.get("model_name"),
        model_class=src.get("model_class"),
        file=file,
        naming=manifest.get("naming", "canonical"),
        warnings=inherited,
    )
    info.extra = dict(src.get("info", {}))
    info.extra["exported_from"] = {k: v for k, v in src.items() if k != "info"}
    if len(inherited) < len(warnings):
        info.extra["exported_from"]["warnings"] = [w for w in warnings if w not in inherited]
    return info
