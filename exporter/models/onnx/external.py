"""ONNX external data: check where a tensor's bytes live, then memory-map them.

A tensor with `data_location=EXTERNAL` names a file (`location`) and a byte range (`offset`,
`length`) in its `external_data`. The location is data from the model, so it must be a relative
path inside the model's folder (no absolute path, no `..`), and the file is opened by walking the
location from the folder's descriptor without following any symlink (safe_open.open_inside): a
symlink anywhere on the way is refused, even one swapped in after the check. The opened file
must be a regular file with a single hard link (a second link could make a file outside the
folder look like it is inside; onnxruntime was seen following one, FORMATS.md), and the byte
range must lie inside it and be exactly dtype x shape bytes. When the tensor is read, the same
walk, from the same open folder, opens the file again and it must be the very file (device and
inode) that was checked; the map is made from that descriptor.

Refusals are UnsafeInputError; a damaged reference (range past the end, bad numbers, missing
file) is InputError. Each is one line naming the tensor.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.core.errors import InputError, UnsupportedError
from exporter.files.archive import declared_nbytes
from exporter.files.inputs import Folder, Identity, identity, relative_parts
from exporter.files.maps import file_array

EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
MISSING = "not found next to the model; keep the data files in the model's folder"


@dataclass(frozen=True)
class ExternalRef:
    """A checked external-data reference: the model's folder (kept open), file, byte offset
    and byte length."""

    folder: Folder
    parts: tuple[str, ...]
    location: str
    offset: int
    length: int
    file: Identity

    @property
    def path(self) -> Path:
        return Path(self.folder.path).joinpath(*self.parts)


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


def _open(folder: Folder, parts, location: str, label: str, expect: Identity | None) -> int:
    """The checked descriptor of a tensor's data file (see the module docstring)."""
    name = f"external data file {location!r}"
    return folder.open(parts, label, name, max_links=1, expect=expect, missing=MISSING)


def external_ref(tensor, folder: Folder | Path, expected: int, label: str) -> ExternalRef:
    """Check the external data of a TensorProto holding `expected` bytes; return where it is.
    folder is the model's folder: best the Folder opened with the model (InputFile.parent),
    so data and model come from the same folder whatever its path shows later."""
    fields = {entry.key: entry.value for entry in tensor.external_data}
    location = fields.get("location")
    if not location:
        raise InputError(f"{label}: external data has no location")
    parts = relative_parts(location, label, "external data location", "the model's folder")
    folder = folder if isinstance(folder, Folder) else Folder(folder)
    fd = _open(folder, parts, location, label, None)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
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
    return ExternalRef(folder, parts, location, offset, length, identity(st))


def _opened(ref: ExternalRef, label: str) -> int:
    """The data file of ref opened again from its folder: the same file, still long enough."""
    fd = _open(ref.folder, ref.parts, ref.location, label, ref.file)
    if ref.offset + ref.length > os.fstat(fd).st_size:
        os.close(fd)
        raise InputError(f"{label}: external data file {ref.location!r} shrank while reading")
    return fd


def load_external(ref: ExternalRef, dtype: np.dtype, shape: tuple[int, ...], label: str):
    """The tensor's values, memory-mapped read-only from the checked descriptor."""
    fd = _opened(ref, label)
    try:
        little = np.dtype(dtype).newbyteorder("<")
        return file_array(fd, ref.offset, little, shape, label)
    finally:
        os.close(fd)


def read_external(ref: ExternalRef, label: str) -> bytes:
    """The tensor's bytes, read from the checked descriptor."""
    fd = _opened(ref, label)
    try:
        data = os.pread(fd, ref.length, ref.offset)
    finally:
        os.close(fd)
    if len(data) != ref.length:
        raise InputError(f"{label}: external data file {ref.location!r} shrank while reading")
    return data


def tensor_protos(message) -> Iterator:
    """Every TensorProto anywhere in a protobuf message (graphs, subgraphs, functions, sparse
    tensors, training info), found by walking the message's fields."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        items = value if descriptor.is_repeated else [value]
        if descriptor.message_type.name == "TensorProto":
            yield from items
        else:
            for item in items:
                yield from tensor_protos(item)


def _stored_bytes(tensor, label: str) -> int:
    """The bytes a tensor's dtype and dims need (Python ints); its dtype must be numeric."""
    from onnx import helper

    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type))
    except (KeyError, TypeError, ValueError):
        dtype = np.dtype(object)
    if dtype.kind == "O":
        raise UnsupportedError(f"{label}: external data of this dtype is not supported")
    return declared_nbytes(tensor.dims, dtype.itemsize, label)  # refuses negative dims


def inline_external_data(model, folder: Folder | Path, where: str) -> int:
    """Put every external tensor's bytes into the model itself (raw_data), each read through
    the checks above, so a runtime given the model never opens a file; returns how many."""
    count = 0
    folder = folder if isinstance(folder, Folder) else Folder(folder)
    for tensor in tensor_protos(model):
        if tensor.data_location != EXTERNAL:
            continue
        label = f"{where}: tensor {tensor.name!r}"
        ref = external_ref(tensor, folder, _stored_bytes(tensor, label), label)
        tensor.raw_data = read_external(ref, label)
        tensor.data_location = 0  # DEFAULT
        del tensor.external_data[:]
        count += 1
    return count
