"""safetensors: the format other ecosystems load directly; the manifest goes in __metadata__.

Written here, tensor by tensor, in the format safetensors documents: an 8-byte little-endian
header length, a JSON header (`__metadata__` first, holding the manifest under METADATA_KEY, then
every tensor in our order with dtype, shape and data_offsets) padded with spaces to a multiple of
8, then the tensors' bytes back to back. bfloat16 and float8 keep their real dtype codes.

The manifest in the header needs every tensor's sha256, which is only known once the tensor has
been read. Rather than read every tensor twice (a first pass to hash, a second to write), the
header is written with placeholder hashes of the same length (64 hex digits; JSON escaping does
not touch them), the data follows (hashed in a second thread while it is written), and the finished header is written
over the placeholder. Each tensor is read once; memory is one tensor plus nothing per byte.

Keys are the tensor names, as other ecosystems expect; `__metadata__` is the one key the format
reserves, so a tensor of that name is refused before anything is written (plan_safetensors).

Dtype codes come from the one dtype table (core.dtypes, `safetensors` column). Read back after
the safetensors library has checked the header, each tensor memory-mapped from the input's
descriptor; without our manifest, a plain safetensors file reads with its keys sorted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from exporter.core.dtypes import as_little_endian, by_dtype, by_safetensors_code
from exporter.core.errors import InputError
from exporter.core.weightset import HASH_CHUNK, ModelInfo, Tensor, WeightSet
from exporter.files.inputs import InputFile
from exporter.files.kernel_copy import OutputFile
from exporter.files.maps import file_array
from exporter.formats import manifest as mf
from exporter.formats.common import Entry, broken_tensor, entry_tensor, from_manifest, note_unlisted
from exporter.formats.names import flat_plan
from exporter.readers import READERS, Probe, Reader, ReadOptions
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

METADATA_KEY = "exporter.manifest"  # the __metadata__ entry that holds the manifest
_PLACEHOLDER = "0" * 64
RESERVED_KEY = "__metadata__"


# ---------------------------------------------------------------- writing


def plan_safetensors(ws: WeightSet, options: WriteOptions) -> dict[str, str]:
    """name -> header key (the name itself), refusing the key the format keeps for metadata."""
    return flat_plan(
        ws,
        "safetensors key",
        str,
        claims=lambda name: (name,),
        reserved={RESERVED_KEY: "the file's metadata (the manifest)"},
    )


def header_bytes(ws: WeightSet, manifest: dict[str, Any], size: int = 0) -> bytes:
    """The length-prefixed JSON header for ws with manifest in __metadata__, padded with spaces
    to a multiple of 8 bytes and to at least size bytes (safetensors allows trailing spaces)."""
    header: dict[str, Any] = {RESERVED_KEY: {METADATA_KEY: mf.dumps(manifest)}}
    offset = 0
    for tensor in ws:
        end = offset + tensor.nbytes
        header[tensor.name] = {
            "dtype": by_dtype(tensor.dtype).safetensors,
            "shape": [int(n) for n in tensor.shape],
            "data_offsets": [offset, end],
        }
        offset = end
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    text += b" " * max(0, size - 8 - len(text))
    return len(text).to_bytes(8, "little") + text


def write_tensor_data(out: BinaryIO, array: np.ndarray) -> None:
    """Write array's C-order little-endian bytes to out in slices, without copying."""
    flat = array.reshape(-1).view(np.uint8) if array.size else np.empty(0, np.uint8)
    for start in range(0, flat.size, HASH_CHUNK):
        out.write(memoryview(flat[start : start + HASH_CHUNK]))


def _entries(ws: WeightSet, hashes: list[str]) -> list[mf.TensorEntry]:
    return [mf.TensorEntry(t, h, t.name) for t, h in zip(ws, hashes, strict=True)]


# Reading the tensors can add warnings to the manifest (an edited export whose data no longer
# matches its hashes); the reserved header leaves room for them.
HEADER_SLACK = 4096


def _placeholder_info(info: ModelInfo) -> ModelInfo:
    """info with a stand-in of the same length for a source digest still being computed: sizing
    the header must not wait for the whole source file to be hashed before writing starts."""
    if not callable(info.digest):  # known (a str) or none: nothing to wait for
        return info
    return dataclasses.replace(info, digest=_PLACEHOLDER)


def write_safetensors(
    ws: WeightSet, path: Path, options: WriteOptions, locations: Locations
) -> dict:
    """Write ws as one safetensors file at path (keys as planned: the tensor names)."""
    placeholder = mf.build(
        _placeholder_info(ws.info),
        _entries(ws, [_PLACEHOLDER] * len(ws)),
        created=options.created_at,
    )
    reserved = len(header_bytes(ws, placeholder)) + HEADER_SLACK
    hashes: list[str] = []
    with OutputFile(path) as out:
        out.write(b" " * reserved)
        for tensor in ws:
            hashes.append(_write_one(out, tensor))
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, _entries(ws, hashes), created=options.created_at)
        header = header_bytes(ws, manifest, size=reserved)
        if len(header) == reserved:
            out.seek(0)
            out.write(header)
            return manifest
    _rewrite_with_header(path, header, reserved)  # rare: far more warnings than expected
    return manifest


def _rewrite_with_header(path: Path, header: bytes, data_start: int) -> None:
    """Put a longer header in front of the data already written at data_start."""
    moved = path.with_name(path.name + ".data")
    os.replace(path, moved)
    try:
        with open(moved, "rb") as data, open(path, "wb") as out:
            out.write(header)
            data.seek(data_start)
            shutil.copyfileobj(data, out, HASH_CHUNK)
    finally:
        moved.unlink(missing_ok=True)


def _write_one(out: BinaryIO, tensor: Tensor) -> str:
    array = as_little_endian(tensor.read())
    return write_and_hash(array, lambda a: write_tensor_data(out, a))


# ---------------------------------------------------------------- reading


def detect_safetensors(probe: Probe) -> bool:
    """An 8-byte little-endian header length of a plausible size, then a JSON object."""
    head = probe.head
    if len(head) < 10 or probe.is_dir:
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= 100_000_000 and head[8:9] == b"{"


def read_safetensors(source: InputFile, options: ReadOptions) -> WeightSet:
    from safetensors import SafetensorError, safe_open

    path = source.path
    try:  # the library validates the header: offsets in order, inside the file, no overlap
        with safe_open(_library_path(source), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            keys = list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a valid safetensors file ({exc})") from None
    header, data_start = _read_header(source.fd, path)  # the same inode the library read

    def loader(key: str):
        return _tensor_loader(source, key, header[key], data_start)

    if METADATA_KEY in metadata:
        manifest = mf.parse(metadata[METADATA_KEY], str(path))

        def make(entry: Entry) -> Tensor:
            key = entry.get("location", entry["name"])
            if key not in keys:
                return broken_tensor(entry, f"{path}: tensor {key!r} is missing")
            return entry_tensor(entry, loader(key))

        ws = from_manifest(path, manifest, "safetensors", make)
        listed = {e.get("location", e["name"]) for e in manifest["tensors"]}
        note_unlisted(ws, keys, listed, "tensor")
        return ws
    ws = WeightSet(info=ModelInfo(kind="safetensors", file=path.name))
    ws.info.extra["metadata"] = metadata
    for key in keys:  # safetensors lists keys sorted; the file keeps no other order
        dtype = _header_dtype(path, key, header[key])
        ws.add(Tensor(key, dtype, tuple(header[key]["shape"]), loader(key), origin=key))
    return ws


def _header_dtype(path: Path, key: str, spec: dict[str, Any]) -> np.dtype:
    row = by_safetensors_code(spec.get("dtype"))
    if row is None:
        raise InputError(f"{path}: tensor {key!r} has unsupported dtype {spec.get('dtype')}")
    return row.numpy


def _library_path(source: InputFile) -> str:
    """A path to the input's very inode for safetensors, which opens files by path only
    (/proc/self/fd or /dev/fd); refused where the platform has neither."""
    found = source.library_path()
    if found is None:
        raise InputError(
            f"{source.path}: this platform has no /proc/self/fd or /dev/fd, so the safetensors "
            "library cannot be handed the checked file; convert it on Linux"
        )
    return found


def _tensor_loader(source: InputFile, key: str, spec: dict[str, Any], data_start: int):
    """Memory-map one tensor's bytes (every dtype, float8 included; nothing copied) from the
    input's checked descriptor."""
    path = source.path
    dtype = _header_dtype(path, key, spec)
    shape = tuple(int(n) for n in spec["shape"])
    begin, end = (int(n) for n in spec["data_offsets"])

    def load() -> np.ndarray:
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize:
            raise InputError(f"{path}: tensor {key!r} holds {end - begin} bytes, not {shape}")
        where = f"{path}: tensor {key!r}"
        return file_array(source.fd, data_start + begin, dtype, shape, where)

    return load


def _read_header(fd: int, path: Path) -> tuple[dict[str, Any], int]:
    """The header's tensor entries and where the data starts (after safe_open checked it)."""
    size = int.from_bytes(os.pread(fd, 8, 0), "little")
    if size > os.fstat(fd).st_size:
        raise InputError(f"{path}: the safetensors header is larger than the file")
    header = json.loads(os.pread(fd, size, 8))
    header.pop(RESERVED_KEY, None)
    return header, 8 + size


# ---------------------------------------------------------------- registration

READERS.register(
    "safetensors",
    Reader("safetensors", detect_safetensors, read_safetensors, "safetensors file"),
)
WRITERS.register(
    "safetensors",
    Writer(
        "safetensors",
        (".safetensors",),
        False,
        write_safetensors,
        "safetensors file",
        plan_safetensors,
    ),
)
