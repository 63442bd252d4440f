"""Writers, keyed by format name. Each turns a WeightSet into files plus a manifest.

A writer module defines one Writer and registers it here; the driver `write` picks the format
from the option or the output's extension, writes to a temporary name and renames into place.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..outputs import atomic_dir, atomic_file
from ..registry import Registry
from ..weightset import WeightSet


@dataclass(frozen=True)
class WriteOptions:
    """Options every writer understands (each uses the ones that apply to it)."""

    created_at: str | None = None
    csv_layout: str = "wide"  # "wide": one CSV per tensor; "long": one tensor,index,value table
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Writer:
    """A registered export format."""

    format: str
    extensions: tuple[str, ...]
    is_dir: bool
    write: Callable[[WeightSet, Path, WriteOptions], dict[str, Any]]
    description: str = ""


WRITERS: Registry[Writer] = Registry("export format")
_MODULES = ("npz", "json_text", "csv_text", "safetensors_file")
_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in _MODULES:
            importlib.import_module(f"{__name__}.{name}")


def writers() -> Registry[Writer]:
    """The registry with every built-in writer loaded."""
    _load_all()
    return WRITERS


def format_for(path: str | os.PathLike, fmt: str | None) -> Writer:
    """The writer for an explicit format name, or for the output's extension."""
    registry = writers()
    if fmt:
        return registry.get(fmt.lower())
    name = str(path).lower().rstrip("/")
    for writer in registry:
        if any(name.endswith(ext) for ext in writer.extensions):
            return writer
    known = ", ".join(f"{w.format} ({' '.join(w.extensions)})" for w in registry)
    raise UsageError(f"cannot tell the format of {path}; pass --format, one of: {known}")


def write(
    ws: WeightSet,
    dest: str | os.PathLike,
    fmt: str | None = None,
    *,
    force: bool = False,
    options: WriteOptions | None = None,
) -> dict[str, Any]:
    """Write ws to dest atomically and return the manifest that was written."""
    writer = format_for(dest, fmt)
    options = options or WriteOptions()
    opener = atomic_dir if writer.is_dir else atomic_file
    with opener(Path(dest), force=force) as tmp:
        return writer.write(ws, tmp, options)
