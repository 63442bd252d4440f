"""Writers, keyed by format name. Each turns a WeightSet into files plus a manifest.

A writer module defines one Writer and registers it here; the driver `write` picks the format
from the option or the output's extension, plans where every tensor goes (names.py: a name that
cannot be written is refused before any output exists), writes to a temporary name and renames
into place.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.errors import UsageError
from exporter.core.registry import Registry
from exporter.core.weightset import WeightSet, sha256_of
from exporter.files.publish import atomic_dir, atomic_file
from exporter.formats import MODULES as FORMAT_MODULES
from exporter.formats.names import NameClash


@dataclass(frozen=True)
class WriteOptions:
    """Options every writer understands (each uses the ones that apply to it)."""

    created_at: str | None = None
    csv_layout: str = "wide"  # "wide": one CSV per tensor; "long": one tensor,index,value table
    progress: Callable[[str], None] | None = None
    # C export (formats/c.py): identifier prefix (default: the output's stem), array alignment
    # in bytes, linker section, AVR PROGMEM, and extra arrays (name, array) such as test vectors
    c_prefix: str | None = None
    c_align: int = 16
    c_section: str | None = None
    c_progmem: bool = False
    c_extra: tuple[tuple[str, Any], ...] = ()
    c_split: bool = False  # a .h declaring extern arrays + a .c defining them (api.export)
    # JSON export: 64-bit integers as decimal strings (JavaScript's numbers hold 53 bits)
    json_int_as_string: bool = False


Locations = Mapping[str, str]  # tensor name -> where its data goes (the manifest's location)


def _own_names(ws: WeightSet, options: WriteOptions) -> dict[str, str]:
    return {tensor.name: tensor.name for tensor in ws}


@dataclass(frozen=True)
class Writer:
    """A registered export format.

    plan(ws, options) returns every tensor's location, or raises names.NameClash, before the
    output is opened; write(ws, path, options, locations) then writes to those locations.
    """

    format: str
    extensions: tuple[str, ...]
    is_dir: bool
    write: Callable[[WeightSet, Path, WriteOptions, Locations], dict[str, Any]]
    description: str = ""
    plan: Callable[[WeightSet, WriteOptions], dict[str, str]] = _own_names


PARALLEL_HASH_BYTES = 1 << 20  # smaller tensors are hashed inline (a thread costs more)


def write_and_hash(array: np.ndarray, write: Callable[[np.ndarray], None]) -> str:
    """Call write(array) while the sha256 of array is computed in a second thread; return it.

    hashlib releases the GIL on large buffers, and so do file writes and zlib.crc32, so on two
    cores hashing a big tensor costs almost no extra wall time.
    """
    if array.nbytes < PARALLEL_HASH_BYTES:
        write(array)
        return sha256_of(array)
    digest = _hasher().submit(sha256_of, array)
    try:
        write(array)
    finally:
        result = digest.result()  # waits even when write failed: the thread reads array
    return result


_HASHERS: dict[int, Any] = {}


def _hasher():
    """One long-lived hashing thread per process (starting a thread per tensor cost 2-3 ms each
    on a loaded machine: 31 starts were 84 ms of a ResNet50 export). Keyed by process id: a
    forked child must not use its parent's executor, whose thread it does not have."""
    pid = os.getpid()
    if pid not in _HASHERS:
        from concurrent.futures import ThreadPoolExecutor

        _HASHERS.clear()
        _HASHERS[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exporter-sha256")
    return _HASHERS[pid]


WRITERS: Registry[Writer] = Registry("export format")
_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in FORMAT_MODULES:
            importlib.import_module(name)
        WRITERS.order_by_module(FORMAT_MODULES, lambda writer: writer.write.__module__)


def writers() -> Registry[Writer]:
    """The registry with every built-in writer loaded."""
    _load_all()
    return WRITERS


def extension_of(fmt: str) -> str:
    """The file extension an export in format fmt gets by default: 'npz' -> '.npz',
    'csv' -> '.csv' (a folder); UsageError naming the formats for an unknown one."""
    return writers().get(fmt.lower()).extensions[0]


def known_suffixes() -> tuple[str, ...]:
    """Every file extension an export format claims ('.npz', '.json', '.csv', '.safetensors'),
    in registry order; the trailing '/' that names a CSV folder is not a suffix."""
    return tuple(e for w in writers() for e in w.extensions if e != "/")


def format_for(path: str | os.PathLike, fmt: str | None) -> Writer:
    """The writer for an explicit format name, or for the output's extension; a trailing `/`
    names a folder, so a CSV export. An explicit format that the output's name contradicts
    (`--format json -o out.npz`, `--format npz -o out/`) is refused: UsageError (exit 2)."""
    registry = writers()
    text = os.fspath(path)
    named = _writer_named_by(text, registry)
    if not fmt:
        if named is None:
            known = ", ".join(f"{w.format} ({' '.join(w.extensions)})" for w in registry)
            raise UsageError(f"cannot tell the format of {path}; pass --format, one of: {known}")
        return named
    writer = registry.get(fmt.lower())
    if named is not None and named.format != writer.format:
        says = (
            "a trailing / names a CSV folder" if named.is_dir else f"the name says {named.format}"
        )
        raise UsageError(
            f"{path}: {says} but --format says {writer.format}; make the name and the format "
            "agree (or leave out --format)"
        )
    return writer


def _writer_named_by(text: str, registry: Registry[Writer]) -> Writer | None:
    """The writer the output's name asks for: a trailing `/` a folder writer, else the writer
    whose extension ends the name; None when the name says nothing (`weights.bin`)."""
    if text.endswith(("/", os.sep)):
        return next((w for w in registry if w.is_dir), None)
    name = text.lower()
    return next((w for w in registry if any(name.endswith(e) for e in w.extensions)), None)


def write(
    ws: WeightSet,
    dest: str | os.PathLike,
    fmt: str | None = None,
    *,
    force: bool = False,
    options: WriteOptions | None = None,
) -> dict[str, Any]:
    """Write ws to dest atomically and return the manifest that was written.

    Every tensor's location is planned first: names the format cannot hold apart raise
    NameClash (exit 3) naming both tensors, and nothing is created.
    """
    writer = format_for(dest, fmt)
    options = options or WriteOptions()
    try:
        locations = writer.plan(ws, options)
    except NameClash as exc:
        source = f" (read from {ws.info.file})" if ws.info.file else ""
        raise NameClash(
            f"{dest}: cannot write {writer.format}{source}: {exc}; rename the tensor "
            "or export to another format"
        ) from None
    if writer.is_dir:
        check_path_lengths(Path(dest), locations)
    opener = atomic_dir if writer.is_dir else atomic_file
    with opener(Path(dest), force=force) as tmp:
        return writer.write(ws, tmp, options, locations)


TEMP_NAME_EXTRA = 32  # the temporary folder is dest's name plus `.` + 8 random chars + `.tmp`


def check_path_lengths(dest: Path, locations: Locations) -> None:
    """Refuse (UsageError) a folder export whose longest file path would exceed the system's
    path limit, before anything is created: the same names fit in a shorter output folder."""
    if not locations:
        return
    folder = os.fsencode(os.path.abspath(dest))
    name, location = max(locations.items(), key=lambda item: len(item[1].encode()))
    try:
        limit = os.pathconf(os.path.dirname(folder) or b"/", "PC_PATH_MAX")
    except (OSError, ValueError):
        limit = 4096
    if len(folder) + TEMP_NAME_EXTRA + 1 + len(location.encode()) >= limit:
        raise UsageError(
            f"{dest}: the file for tensor {name!r} would have a path longer than this system "
            f"allows ({limit} bytes); write to a shorter output path or use --csv-layout long"
        )
