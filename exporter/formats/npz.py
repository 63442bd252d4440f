"""NPZ: one .npy member per tensor keyed by canonical name, plus a manifest.json member.

Loads with plain numpy.load(path). Tensors are read and written one at a time, each member
straight from the array's memory in 16 MiB slices (no copy), so memory is one tensor; a tensor
memory-mapped from the source file is copied from that file by the kernel (outputs.OutputFile)
while zipfile computes its CRC from the map. Members are stored (not deflated) with fixed zip
metadata, so the same weights give the same bytes. dtypes numpy has no .npy code for
(bfloat16, float8) are stored as unsigned integers of the same width; the manifest holds the
real dtype (core.dtypes: the table's `npy` column).

Read back with or without a manifest (a plain .npz from numpy.savez: names are its keys). Members
are parsed by numpy's header code and refused unless they hold exactly the bytes their header
declares; a stored member is memory-mapped from the input's descriptor, a deflated one copied.

numpy.load finds a member both by its name and by its name without `.npy`, and the member's own
name wins: with tensors `x` and `x.npy`, `numpy.load(path)["x.npy"]` returns `x`. So a name that
is another tensor's member name (`x.npy` beside `x`), or `manifest.json`, is refused (plan_npz).
"""

from __future__ import annotations

import re
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from exporter.core.dtypes import as_little_endian, by_dtype, dtype_from_name
from exporter.core.errors import InputError, UnsafeInputError
from exporter.core.weightset import HASH_CHUNK, ModelInfo, Tensor, WeightSet
from exporter.files.archive import open_zip, read_member, stored_range
from exporter.files.inputs import InputFile
from exporter.files.kernel_copy import OutputFile
from exporter.files.maps import file_array
from exporter.formats import manifest as mf
from exporter.formats.common import (
    MAX_MANIFEST_BYTES,
    Entry,
    broken_tensor,
    entry_tensor,
    from_manifest,
    note_unlisted,
)
from exporter.formats.names import flat_plan
from exporter.readers import READERS, ZIP_MAGIC, Probe, Reader, ReadOptions
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
MANIFEST_MEMBER = "manifest.json"
RESAVED = "manifest.json.npy"  # dict(np.load(x)) then np.savez(**d) keeps it as a bytes array


# ---------------------------------------------------------------- writing


def zip_info(name: str) -> zipfile.ZipInfo:
    """A ZipInfo with fixed time and attributes (reproducible archives)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def storage_array(array: np.ndarray) -> np.ndarray:
    """The array as it is stored in a .npy member (little-endian, exotic floats as uints)."""
    array = as_little_endian(array)
    row = by_dtype(array.dtype)
    return array.view(row.npy_dtype) if row.extra else array


def write_npy(handle: BinaryIO, array: np.ndarray) -> None:
    """The bytes numpy.lib.format.write_array writes, without its 16 MiB copy per slice."""
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:  # a header over 64 KiB (a very long shape) needs format 2.0
        np.lib.format.write_array_header_2_0(handle, header)
    flat = array.reshape(-1).view(np.uint8) if array.size else np.empty(0, np.uint8)
    for start in range(0, flat.size, HASH_CHUNK):
        handle.write(memoryview(flat[start : start + HASH_CHUNK]))


def member_for(name: str) -> str:
    """The archive member that holds a tensor."""
    return f"{name}.npy"


def plan_npz(ws: WeightSet, options: WriteOptions) -> dict[str, str]:
    """name -> member, refusing names that numpy.load would not find (see the module doc)."""
    return flat_plan(
        ws,
        "numpy.load key",
        member_for,
        claims=lambda name: (name, member_for(name)),
        reserved={MANIFEST_MEMBER: "the manifest"},
    )


def write_npz(ws: WeightSet, path: Path, options: WriteOptions, locations: Locations) -> dict:
    """Write ws as an NPZ at path, each tensor as member locations[name]; the manifest last."""
    entries = []
    with (
        OutputFile(path) as out,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for tensor in ws:
            array = storage_array(tensor.read())
            member = locations[tensor.name]
            big = array.nbytes > (1 << 31) - (1 << 20)
            with archive.open(zip_info(member), "w", force_zip64=big) as handle:
                digest = write_and_hash(array, lambda a, h=handle: write_npy(h, a))
            entries.append(mf.TensorEntry(tensor, digest, member))
            del array  # before the next tensor is read: one tensor in memory at a time
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        archive.writestr(zip_info(MANIFEST_MEMBER), mf.dumps(manifest))
    return manifest


# ---------------------------------------------------------------- reading

# What reading a damaged .npy member raises: numpy parses its header with tokenize/ast, and a
# deflated member fails in zlib.
NPY_ERRORS = (
    ValueError, OSError, zipfile.BadZipFile, SyntaxError, EOFError, zlib.error, tokenize.TokenError,
)  # fmt: skip


def detect_npz(probe: Probe) -> bool:
    """A zip of .npy members, with or without the manifest (and only the manifest: an export
    of a model with no tensors)."""
    if not probe.head.startswith(ZIP_MAGIC):  # a folder's file names may end in .npy too
        return False
    npy = [m for m in probe.members if m.endswith(".npy")]
    others = [m for m in probe.members if not m.endswith(".npy") and not m.endswith("/")]
    if not npy:
        return others == [MANIFEST_MEMBER]
    return set(others) <= {MANIFEST_MEMBER}


def read_npz(source: InputFile, options: ReadOptions) -> WeightSet:
    path = source.path
    with open_zip(source) as archive:
        members = archive.namelist()
        text = _manifest_text(archive, path)
        if text is not None:
            manifest = mf.parse(text, f"{path}")
            ws = from_manifest(path, manifest, "npz", lambda e: _npz_tensor(source, archive, e))
            listed = {e.get("location", member_for(e["name"])) for e in manifest["tensors"]}
            listed.add(RESAVED)
            note_unlisted(ws, [m for m in members if m.endswith(".npy")], listed, "member")
            return ws
        ws = WeightSet(info=ModelInfo(kind="npz", file=path.name, naming="canonical"))
        for member in members:
            if member.endswith(".npy"):
                header = _npy_header(archive, member, str(path))
                dtype, shape = header[0], header[1]
                _, _, loader = _npz_loader(source, archive, member, dtype, header)
                ws.add(Tensor(member[:-4], dtype.newbyteorder("="), shape, loader))
        ws.info.warnings.append("plain .npz without a manifest: names are the archive's keys")
        return ws


def _manifest_text(archive: zipfile.ZipFile, path: Path) -> bytes | None:
    """The manifest of an NPZ: the manifest.json member, or the same text re-saved by numpy."""
    for member in (MANIFEST_MEMBER, RESAVED):
        if member in archive.NameToInfo:
            size = archive.getinfo(member).file_size
            if size > MAX_MANIFEST_BYTES:
                raise InputError(f"{path}: {member} is {size:,} bytes; refused")
            if member == MANIFEST_MEMBER:
                return read_member(archive, member, str(path))
            dtype, shape, _fortran, _size = _npy_header(archive, member, str(path))
            if shape or dtype.kind not in "SU":  # declared bytes == stored bytes <= the bound
                return None
            with archive.open(member) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
            if array.ndim == 0 and array.dtype.kind in "SU":
                value = array.item()
                return value.encode() if isinstance(value, str) else value
    return None


def _npz_tensor(source: InputFile, archive: zipfile.ZipFile, entry: Entry) -> Tensor:
    path = source.path
    member = entry.get("location", member_for(entry["name"]))
    dtype = dtype_from_name(entry["dtype"])
    if member not in archive.NameToInfo:
        return broken_tensor(entry, f"{path}: member {member!r} is missing")
    stored, _shape, loader = _npz_loader(source, archive, member, dtype)
    if loader is None:
        return broken_tensor(entry, f"{path}: member {member!r} is {stored}, manifest says {dtype}")
    return entry_tensor(entry, loader)


_PLAIN_HEAD = 256  # numpy pads the header of a plain array to 64 or 128 bytes
_PLAIN = re.compile(
    rb"\x93NUMPY\x01\x00(..)\{'descr': '([<>|][a-zA-Z][0-9]{1,2})', "
    rb"'fortran_order': (True|False), 'shape': \(((?:(?:0|[1-9][0-9]{0,18}), )+(?:0|[1-9][0-9]{0,18})|(?:0|[1-9][0-9]{0,18}),|)\), \} *\n",
    re.DOTALL,
)


def _plain_header(head: bytes) -> tuple[tuple, bool, np.dtype, int] | None:
    """(shape, fortran, dtype, header size) of a version 1.0 header in exactly the form numpy
    writes for a plain array, parsed without Python's literal_eval (the cost of a tiny tensor);
    None for any other header, which numpy's own parser then reads."""
    found = _PLAIN.match(head)
    if found is None:
        return None
    size = 10 + int.from_bytes(found.group(1), "little")
    if found.end() != size:
        return None
    try:
        dtype = np.dtype(found.group(2).decode("ascii"))
    except TypeError:  # not a dtype numpy knows: its own parser says so
        return None
    shape = tuple(int(n) for n in found.group(4).replace(b" ", b"").split(b",") if n)
    return shape, found.group(3) == b"True", dtype, size


def _npy_header(
    archive: zipfile.ZipFile, member: str, where: str
) -> tuple[np.dtype, tuple, bool, int]:
    """dtype and shape from a member's .npy header, refused unless the member holds exactly
    that many bytes (so a header declaring a huge shape is refused before anything is allocated)."""
    try:
        with archive.open(member) as handle:
            parsed = _plain_header(handle.read(_PLAIN_HEAD))
            if parsed is None:  # anything but the plain form numpy writes: numpy's own parser
                handle.seek(0)
                version = np.lib.format.read_magic(handle)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(handle)
                header_size = handle.tell()
            else:
                shape, fortran, dtype, header_size = parsed
    except NPY_ERRORS as exc:
        raise InputError(f"{where}: member {member!r} is damaged or not a .npy ({exc})") from None
    if dtype.hasobject:
        raise UnsafeInputError(f"{where}: member {member!r} holds Python objects (pickle); refused")
    shape = tuple(int(n) for n in shape)
    if any(n < 0 or n > np.iinfo(np.intp).max for n in shape):
        raise InputError(f"{where}: member {member!r} declares the shape {list(shape)}")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    stored = archive.getinfo(member).file_size - header_size
    if declared != stored:
        raise InputError(
            f"{where}: member {member!r} declares {dtype}{list(shape)} ({declared:,} bytes) "
            f"but holds {stored:,} bytes; the file is damaged or crafted"
        )
    return dtype, shape, bool(fortran), header_size


def _native(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The stored array as dtype: exotic floats re-viewed from their uint storage, native order."""
    if array.dtype != dtype and array.dtype.itemsize == dtype.itemsize and array.dtype.kind == "u":
        array = array.view(dtype)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _npz_loader(
    source: InputFile, archive: zipfile.ZipFile, member: str, dtype: np.dtype, header=None
):
    """(stored dtype, shape, loader) of one member, the fastest safe loader: a memory map when
    the member is stored, else a copy; no loader when the widths of dtype and storage differ.
    header: the member's _npy_header when the caller parsed it already."""
    header = header or _npy_header(archive, member, str(source.path))
    stored, shape, fortran, header_size = header
    if stored.itemsize != dtype.itemsize:
        return stored, shape, None
    with source.reader() as handle:
        found = stored_range(handle, archive.getinfo(member), source.size)
    if found is None or not shape:
        return stored, shape, _npy_loader(source, member, dtype)
    offset = found[0] + header_size
    return stored, shape, _npy_mapper(source, offset, stored, shape, fortran, dtype)


def _npy_loader(source: InputFile, member: str, dtype: np.dtype):
    path = source.path

    def load() -> np.ndarray:
        try:
            with (
                source.reader() as raw,
                zipfile.ZipFile(raw) as archive,
                archive.open(member) as handle,
            ):
                array = np.lib.format.read_array(handle, allow_pickle=False)
        except NPY_ERRORS as exc:
            raise InputError(f"{path}: member {member!r} cannot be read ({exc})") from None
        return _native(array, dtype)

    return load


def _npy_mapper(
    source: InputFile, offset: int, stored: np.dtype, shape: tuple, fortran: bool, dtype
):
    """A loader that memory-maps a stored (uncompressed) member's data from the input's
    descriptor: nothing is copied until the values are used, so exporting from an NPZ streams
    from the page cache."""

    def load() -> np.ndarray:
        order = "F" if fortran else "C"
        array = file_array(source.fd, offset, stored, shape, str(source.path), order)
        return _native(array, dtype)

    return load


# ---------------------------------------------------------------- registration

READERS.register(
    "npz", Reader("npz", detect_npz, read_npz, "NumPy .npz (exporter export or plain)")
)
WRITERS.register(
    "npz",
    Writer("npz", (".npz",), False, write_npz, "NumPy .npz, one .npy member per tensor", plan_npz),
)
