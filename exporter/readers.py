"""Readers, keyed by source kind. Each turns one kind of source into a WeightSet.

Files are recognised by their content (magic bytes, archive members, HDF5 layout), not only by
their extension. Reader modules are imported on first use and never import TensorFlow at
import time; only readers that go through a framework's API (keras_api) do, when called.
"""

from __future__ import annotations

import functools
import importlib
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.core.errors import ExporterError, InputError, UsageError
from exporter.core.registry import Registry
from exporter.core.weightset import WeightSet
from exporter.files.inputs import InputFile, as_input, open_input

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
HEAD_BYTES = 4096


@dataclass(frozen=True)
class ReadOptions:
    """Options readers understand (each uses those that apply)."""

    trust: bool = False  # allow pickle/joblib (runs code from the file)
    config: str | None = None  # model config for a bare .weights.h5 (.keras, .h5, config.json)
    include_optimizer: bool = False
    via: str = "auto"  # "auto": read the file directly; "keras": load it through Keras's API
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """What a reader may look at to recognise a file: the opened input (its path for names and
    messages), first bytes, zip members, and whether it is a folder (seen on the descriptor)."""

    input: InputFile
    head: bytes
    members: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        return self.input.path

    @property
    def is_dir(self) -> bool:
        return self.input.is_dir

    @property
    def suffix(self) -> str:
        return self.path.name.lower()


# What the file plumbing under every reader raises on a damaged, truncated or vanished file: I/O,
# zip archives, inflating, fixed-size binary records. Every reader expects these.
IO_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, struct.error)
Errors = tuple[type[BaseException], ...]


@dataclass(frozen=True)
class Reader:
    """A registered source kind.

    damage: what the reader's own libraries raise on a damaged file (h5py's KeyError or
    RuntimeError, ...), beside IO_ERRORS. Only these, from the read or from a lazy tensor read,
    become "cannot read it, the file is damaged" (exit 3); anything else is a bug in exporter
    and propagates as it is (exit 4, --debug shows the traceback).
    """

    kind: str
    detect: Callable[[Probe], bool]
    read: Callable[[InputFile, ReadOptions], WeightSet]  # the input opened once
    description: str = ""
    damage: Errors = ()

    @property
    def damage_errors(self) -> Errors:
        return (*IO_ERRORS, *self.damage)


READERS: Registry[Reader] = Registry("source kind")
# Order matters: the first reader whose detect() says yes reads the file. Each module registers
# its readers when imported: the export formats first (exporter.formats.MODULES, loaded by name
# like these), then the model files.
FORMATS = "exporter.formats"
_MODULES = (
    "exporter.models.keras.files",
    "exporter.models.onnx.graph",
    "exporter.models.tflite.files",
    "exporter.models.trees.xgb",
    "exporter.models.trees.lgbm",
    "exporter.models.trees.catboost_json",
    "exporter.models.sklearn.files",
)
_loaded = False
# --via keras: the Reader that loads Keras files through Keras itself (by name, like _MODULES;
# not registered, so it never takes part in detection).
VIA_KERAS = "exporter.models.keras.api:VIA_KERAS"


def readers() -> Registry[Reader]:
    """The registry with every built-in reader loaded."""
    global _loaded
    if not _loaded:
        _loaded = True
        for name in _module_names():
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
        READERS.order_by_module(_module_names(), lambda reader: reader.read.__module__)
    return READERS


def _module_names() -> tuple[str, ...]:
    return (*importlib.import_module(FORMATS).MODULES, *_MODULES)


def in_detection_order() -> list[Reader]:
    """The registered readers in the order of their modules above (the export formats first),
    whichever order the modules happened to be imported in; readers from elsewhere last."""
    rank = {name: i for i, name in enumerate(_module_names())}
    return sorted(readers(), key=lambda reader: rank.get(reader.read.__module__, len(rank)))


def probe(source: InputFile | str | os.PathLike) -> Probe:
    """Read what detection needs: the first bytes and, for zip files, the member names.

    The input is opened once without blocking and checked on the descriptor
    (safe_open.InputFile): a FIFO or device is refused before anything is read, and what is
    probed is the very file the reader reads."""
    source = as_input(source)
    if source.is_dir:
        return Probe(source, b"", tuple(sorted(os.listdir(source.fd))))
    head = os.pread(source.fd, HEAD_BYTES, 0)
    members: tuple[str, ...] = ()
    if head.startswith(ZIP_MAGIC):
        from exporter.files.archive import open_zip

        with open_zip(source) as archive:  # bombs and unsafe names refused before any reader
            members = tuple(archive.namelist())
    return Probe(source, head, members)


def check_input_path(source: str | os.PathLike) -> Path:
    """The path of an input that exists and is a regular file or folder (checked on an opened
    descriptor, never a FIFO or device; a symlink the user named is followed), else InputError."""
    path = Path(source)
    os.close(open_input(path))
    return path


def recognise(source: InputFile | str | os.PathLike) -> Reader | None:
    """The reader for a file or folder, chosen by content; None when no reader knows it."""
    found = probe(source)
    return _first_reader(found)


def _first_reader(found: Probe) -> Reader | None:
    if not found.is_dir and not found.head:
        return None  # an empty file is nothing
    return next((reader for reader in in_detection_order() if reader.detect(found)), None)


def detect(source: InputFile | str | os.PathLike) -> Reader:
    """The reader for a file or folder, chosen by content."""
    found = probe(source)
    reader = _first_reader(found)
    if reader is not None:
        return reader
    path = found.path
    if not found.is_dir and not found.head:
        raise InputError(f"{path}: file is empty")
    if found.is_dir:
        raise InputError(
            f"{path}: a folder, but not a CSV export (no manifest.json) or a model exporter reads"
        )
    if found.members:
        shown = ", ".join(found.members[:4]) + (" ..." if len(found.members) > 4 else "")
        raise InputError(
            f"{path}: a zip archive ({shown}) that is not a .keras model (needs config.json and "
            "model.weights.h5), an .npz (.npy members) or a skops file"
        )
    known = ", ".join(reader.kind for reader in in_detection_order())
    raise InputError(f"{path}: not a model or export exporter recognises (reads: {known})")


def read_path(source: str | os.PathLike, options: ReadOptions | None = None) -> WeightSet:
    """Read a file or folder of any registered kind. The input is opened once: detection and
    the reader read that descriptor, whatever happens to the path meanwhile.

    Errors the reader declares as damage (Reader.damage_errors), from the read or later from a
    lazy tensor read, become one InputError naming the file (exit 3); any other exception is a
    bug and propagates unchanged."""
    options = options or ReadOptions()
    if options.via not in ("auto", "keras"):
        raise UsageError(f"unknown --via {options.via!r}; use auto or keras")
    opened = InputFile(source)
    path = opened.path
    reader = _reader_for(opened, options)
    try:
        ws = reader.read(opened, options)
    except ExporterError as exc:
        raise _naming_file(exc, path) from None
    except reader.damage_errors as exc:
        raise InputError(
            f"{path}: cannot read it, the file is damaged or not what it seems "
            f"({type(exc).__name__}: {_one_line(exc)})"
        ) from None
    return _guard_lazy_reads(ws, path, reader.damage_errors)


def _reader_for(opened: InputFile, options: ReadOptions) -> Reader:
    """The reader options.via asks for, or the one detection picks. Detection may look inside
    the file with any reader's libraries, so any reader's damage errors mean a damaged file."""
    try:
        if options.via == "keras":
            module, name = VIA_KERAS.split(":")
            return getattr(importlib.import_module(module), name)
        return detect(opened)
    except ExporterError as exc:
        raise _naming_file(exc, opened.path) from None
    except _detection_errors() as exc:
        raise InputError(
            f"{opened.path}: cannot read it, the file is damaged or not what it seems "
            f"({type(exc).__name__}: {_one_line(exc)})"
        ) from None


def _detection_errors() -> Errors:
    return tuple({e: None for reader in readers() for e in reader.damage_errors})


def _guard_lazy_reads(ws: WeightSet, path: Path, damage: Errors) -> WeightSet:
    """Tensors are read after read_path returns (a damaged compressed member or HDF5 chunk shows
    only then): the reader's damage errors, around every tensor's loader, name the file and
    tensor."""
    for tensor in ws:
        if callable(tensor.source):
            tensor.source = _guarded(tensor.source, path, tensor.name, damage)
    return ws


def _guarded(load: Any, path: Path, name: str, damage: Errors) -> Any:
    @functools.wraps(load)  # __wrapped__: the reader's own loader stays reachable
    def guarded_load() -> Any:
        try:
            return load()
        except ExporterError as exc:
            raise _naming_file(exc, path) from None
        except damage as exc:
            raise InputError(
                f"{path}: tensor {name!r} cannot be read, the file is damaged "
                f"({type(exc).__name__}: {_one_line(exc)})"
            ) from None

    return guarded_load


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _naming_file(exc: ExporterError, path: Path) -> ExporterError:
    """exc itself if its message names the file, else the same error with the path in front."""
    message = str(exc)
    if path.name in message:
        return exc
    try:
        return type(exc)(f"{path}: {message}")
    except TypeError:  # pragma: no cover - a subclass with another signature
        return exc
