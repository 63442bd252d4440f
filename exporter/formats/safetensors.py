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
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_name
from exporter.core.weightset import HASH_CHUNK, ModelInfo, Tensor, WeightSet
from exporter.files.publish import OutputFile
from exporter.formats import manifest as mf
from exporter.formats.names import flat_plan
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

METADATA_KEY = "exporter.manifest"
DTYPE_CODES = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "uint16": "U16", "int16": "I16",
    "uint32": "U32", "int32": "I32", "uint64": "U64", "int64": "I64", "float16": "F16",
    "bfloat16": "BF16", "float32": "F32", "float64": "F64", "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}  # fmt: skip
_PLACEHOLDER = "0" * 64
RESERVED_KEY = "__metadata__"


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
            "dtype": DTYPE_CODES[dtype_name(tensor.dtype)],
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
    if isinstance(object.__getattribute__(info, "sha256"), str | None):
        return info
    stand_in = copy.copy(info)  # copies the fields as they are, without waiting for the digest
    object.__setattr__(stand_in, "sha256", _PLACEHOLDER)
    return stand_in


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
