"""Readers, keyed by source kind. Each turns one kind of source into a WeightSet.

Files are recognised by their content (magic bytes, archive members, HDF5 layout), not only by
their extension. Reader modules are imported on first use and never import TensorFlow at
import time; only readers that go through a framework's API (keras_api) do, when called.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, UsageError
from ..registry import Registry
from ..weightset import WeightSet

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
    """What a reader may look at to recognise a file: its path, first bytes, zip members."""

    path: Path
    head: bytes
    members: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        return self.path.name.lower()


@dataclass(frozen=True)
class Reader:
    """A registered source kind."""

    kind: str
    detect: Callable[[Probe], bool]
    read: Callable[[Path, ReadOptions], WeightSet]
    description: str = ""


READERS: Registry[Reader] = Registry("source kind")
# Order matters: the first reader whose detect() says yes reads the file.
_MODULES = ("exports", "keras_files", "keras_api", "onnx_graph", "sklearn_files")
_loaded = False


def readers() -> Registry[Reader]:
    """The registry with every built-in reader loaded."""
    global _loaded
    if not _loaded:
        _loaded = True
        for name in _MODULES:
            try:
                importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{name}":
                    raise
    return READERS


def probe(path: Path) -> Probe:
    """Read what detection needs: the first bytes and, for zip files, the member names."""
    import zipfile

    if path.is_dir():
        return Probe(path, b"", tuple(sorted(p.name for p in path.iterdir())))
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    members: tuple[str, ...] = ()
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                members = tuple(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InputError(f"{path}: damaged zip archive ({exc})") from None
    return Probe(path, head, members)


def check_input_path(source: str | os.PathLike) -> Path:
    """The path of an input that exists and is a file or folder, else InputError."""
    path = Path(source)
    if not path.exists():
        hint = " (a broken symlink)" if path.is_symlink() else ""
        raise InputError(f"{path}: no such file{hint}; check the path")
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"{path}: not a regular file or folder")
    return path


def detect(path: Path) -> Reader:
    """The reader for a file or folder, chosen by content."""
    found = probe(path)
    if not path.is_dir() and not found.head:
        raise InputError(f"{path}: file is empty")
    for reader in readers():
        if reader.detect(found):
            return reader
    if path.is_dir():
        raise InputError(
            f"{path}: a folder, but not a CSV export (no manifest.json) or a model exporter reads"
        )
    known = ", ".join(readers().names())
    raise InputError(f"{path}: not a model or export exporter recognises (reads: {known})")


def read_path(source: str | os.PathLike, options: ReadOptions | None = None) -> WeightSet:
    """Read a file or folder of any registered kind."""
    options = options or ReadOptions()
    if options.via not in ("auto", "keras"):
        raise UsageError(f"unknown --via {options.via!r}; use auto or keras")
    path = check_input_path(source)
    if options.via == "keras":
        from .keras_api import read_via_keras

        return read_via_keras(path, options)
    return detect(path).read(path, options)


def read_object(obj: Any, options: ReadOptions | None = None) -> WeightSet:
    """A WeightSet from an in-memory model: a Keras model or a fitted scikit-learn estimator."""
    options = options or ReadOptions()
    if isinstance(obj, WeightSet):
        return obj
    module = type(obj).__module__.split(".")[0]
    if module in ("keras", "tf_keras", "tensorflow"):
        from .keras_api import weightset_from_model

        return weightset_from_model(obj, include_optimizer=options.include_optimizer)
    if module == "sklearn" or hasattr(obj, "get_params"):
        from .sklearn_api import weightset_from_estimator

        return weightset_from_estimator(obj)
    raise UsageError(f"cannot read a {type(obj).__module__}.{type(obj).__name__} object")
