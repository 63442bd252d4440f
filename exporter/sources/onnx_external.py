"""ONNX external data: check where a tensor's bytes live, then memory-map them.

A tensor with `data_location=EXTERNAL` names a file (`location`) and a byte range (`offset`,
`length`) in its `external_data`. The location is data from the model, so before anything is
opened it must be a relative path inside the model's folder: no absolute path, no `..`, no
symlink anywhere on the way, a regular file with a single hard link (a second link could make a
file outside the folder look like it is inside; onnxruntime was seen following one, FORMATS.md),
and the byte range must lie inside the file and be exactly dtype x shape bytes.

Refusals are UnsafeInputError; a damaged reference (range past the end, bad numbers, missing
file) is InputError. Each is one line naming the tensor.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..errors import InputError, UnsafeInputError
from ..mapping import file_array


@dataclass(frozen=True)
class ExternalRef:
    """A checked external-data reference: file, byte offset and byte length."""

    path: Path
    location: str
    offset: int
    length: int


def _location_parts(location: str, label: str) -> tuple[str, ...]:
    """The path segments of a location that is relative and stays inside the folder."""
    if "\x00" in location:
        raise UnsafeInputError(f"{label}: external data location contains a NUL byte; refused")
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).anchor:
        raise UnsafeInputError(
            f"{label}: external data location {location!r} is absolute; refused "
            "(it must be a file inside the model's folder)"
        )
    segments = location.replace("\\", "/").split("/")
    if ".." in segments:
        raise UnsafeInputError(
            f"{label}: external data location {location!r} leaves the model's folder ('..'); refused"
        )
    parts = tuple(s for s in location.split("/") if s not in ("", "."))
    if not parts:
        raise InputError(f"{label}: external data location {location!r} names no file")
    return parts


def _check_file_stat(st: os.stat_result, location: str, label: str) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeInputError(f"{label}: external data file {location!r} is a symlink; refused")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInputError(
            f"{label}: external data {location!r} is not a regular file; refused"
        )
    if st.st_nlink > 1:
        raise UnsafeInputError(
            f"{label}: external data file {location!r} has {st.st_nlink} hard links, so it may "
            "be a file from outside the model's folder; refused (copy it to a plain file)"
        )


def _checked_path(folder: Path, location: str, label: str) -> tuple[Path, os.stat_result]:
    """The file a location names, refused unless it is a plain file inside folder."""
    parts = _location_parts(location, label)
    base = folder.resolve()
    path = base.joinpath(*parts)
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise InputError(
            f"{label}: external data file {location!r} not found next to the model; "
            "keep the data files in the model's folder"
        ) from None
    except OSError as exc:
        raise InputError(f"{label}: cannot read external data {location!r} ({exc})") from None
    _check_file_stat(st, location, label)
    if path.resolve() != path:  # a symlinked folder on the way
        raise UnsafeInputError(
            f"{label}: external data location {location!r} goes through a symlink; refused"
        )
    return path, st


def _int_field(fields: dict[str, str], key: str, default: int, label: str) -> int:
    text = fields.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{label}: external data {key} {text!r} is not a number") from None
    if value < 0:
        raise InputError(f"{label}: external data {key} {value} is negative")
    return value


def external_ref(tensor, folder: Path, expected: int, label: str) -> ExternalRef:
    """Check the external data of a TensorProto holding `expected` bytes; return where it is."""
    fields = {entry.key: entry.value for entry in tensor.external_data}
    location = fields.get("location")
    if not location:
        raise InputError(f"{label}: external data has no location")
    path, st = _checked_path(folder, location, label)
    offset = _int_field(fields, "offset", 0, label)
    length = _int_field(fields, "length", expected, label)
    if length != expected:
        raise InputError(
            f"{label}: external data length {length} does not match dtype x shape "
            f"({expected} bytes); the model is damaged"
        )
    if offset + length > st.st_size:
        raise InputError(
            f"{label}: external data range {offset}+{length} is past the end of {location!r} "
            f"({st.st_size} bytes); the data file is truncated or the model is damaged"
        )
    return ExternalRef(path, location, offset, length)


def load_external(ref: ExternalRef, dtype: np.dtype, shape: tuple[int, ...], label: str):
    """The tensor's values, memory-mapped read-only (re-checked on the opened file)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(ref.path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink put there after the check
            raise UnsafeInputError(
                f"{label}: external data file {ref.location!r} is a symlink; refused"
            ) from None
        raise InputError(f"{label}: cannot open external data {ref.location!r} ({exc})") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        _check_file_stat(st, ref.location, label)
        if ref.offset + ref.length > st.st_size:
            raise InputError(f"{label}: external data file {ref.location!r} shrank while reading")
        little = np.dtype(dtype).newbyteorder("<")
        return file_array(handle.fileno(), ref.offset, little, shape, label)
