"""JSON: one document {"data": {name: nested values}, "manifest": {...}}.

Values are exact (textformat): the shortest decimal that reads back to the same value of the
tensor's dtype; NaN and infinities as the tokens "NaN", "Infinity", "-Infinity".
Tensors are written in blocks of at most CHUNK_VALUES values (whole rows where rows are small),
so memory stays at one tensor plus one block of text, whatever the model's size.

Read back whole (the file's size bounds it), parsed by orjson; numbers go straight to an array
when they can, else through the same exact text parser as CSV (textformat.parse_flat).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_from_name, is_float
from exporter.core.errors import InputError
from exporter.core.weightset import Tensor, WeightSet
from exporter.files.inputs import InputFile, read_bounded
from exporter.files.kernel_copy import OutputFile
from exporter.formats import manifest as mf
from exporter.formats.common import Entry, broken_tensor, entry_tensor, from_manifest
from exporter.formats.textformat import CHUNK_VALUES, json_block, parse_flat
from exporter.readers import READERS, Probe, Reader, ReadOptions
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

# ---------------------------------------------------------------- writing


def json_pieces(array: np.ndarray, chunk: int = CHUNK_VALUES) -> Iterator[bytes]:
    """The exact nested-JSON text of array, in pieces of at most about `chunk` values each."""
    if array.ndim == 0 or array.size <= chunk:
        yield json_block(array)
        return
    if array.ndim == 1:
        yield b"["
        for start in range(0, array.size, chunk):
            yield (b"," if start else b"") + json_block(array[start : start + chunk])[1:-1]
        yield b"]"
        return
    row = array[0].size
    yield b"["
    if row <= chunk:  # several whole rows per block
        step = max(1, chunk // max(row, 1))
        for start in range(0, array.shape[0], step):
            yield (b"," if start else b"") + json_block(array[start : start + step])[1:-1]
    else:  # a row is itself bigger than a block: recurse into it
        for index in range(array.shape[0]):
            if index:
                yield b","
            yield from json_pieces(array[index], chunk)
    yield b"]"


_INTEGER = re.compile(rb"-?[0-9]+")


def _quoted_pieces(array: np.ndarray) -> Iterator[bytes]:
    """json_pieces of a 64-bit integer array with every value a decimal string ("-42"): readers
    in JavaScript, whose numbers hold 53 bits, then get the exact value (exporter reads both)."""
    for piece in json_pieces(array):
        yield _INTEGER.sub(rb'"\g<0>"', piece)


def tensor_json(array: np.ndarray) -> str:
    """One tensor's values as JSON text (small tensors; the writer streams pieces)."""
    return b"".join(json_pieces(as_little_endian(array))).decode()


def write_json(ws: WeightSet, path: Path, options: WriteOptions, locations: Locations) -> dict:
    """Write ws as one JSON document (names are keys of the nested "data" object: any two
    distinct names stay distinct, and "data" or "manifest" as names do not meet the top level)."""
    entries = []
    with OutputFile(path) as out:
        out.write(b'{"data": {')
        for index, tensor in enumerate(ws):
            array = as_little_endian(tensor.read())
            out.write(b",\n  " if index else b"\n  ")
            out.write((json.dumps(tensor.name, ensure_ascii=False) + ": ").encode())
            quote = options.json_int_as_string and array.dtype.kind in "iu" and array.itemsize == 8
            pieces = _quoted_pieces if quote else json_pieces
            digest = write_and_hash(array, lambda a, pieces=pieces: out.writelines(pieces(a)))
            entries.append(mf.TensorEntry(tensor, digest, f"data/{tensor.name}"))
            del array
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        out.write(b"\n},\n")
        out.write(('"manifest": ' + mf.dumps(manifest).rstrip("\n") + "\n}\n").encode())
    return manifest


# ---------------------------------------------------------------- reading

_EXPORT_START = re.compile(rb'\s*\{\s*"(data|manifest)"\s*:')
_FORMAT_TOKEN = f'"{mf.FORMAT}"'.encode()  # b'"exporter.weights"'


def detect_json(probe: Probe) -> bool:
    """Our layout ({"data": ..., "manifest": ...}, in either order, any indentation), or any
    JSON object that names the format near its start."""
    if probe.is_dir:
        return False
    if _FORMAT_TOKEN in probe.head and probe.head.lstrip().startswith(b"{"):
        return True
    return bool(_EXPORT_START.match(probe.head)) and probe.suffix.endswith(".json")


def read_json(source: InputFile, options: ReadOptions) -> WeightSet:
    import orjson

    path = source.path
    text = read_bounded(source.fd, source.size, str(path))  # the file's size is the bound
    try:
        document = orjson.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise InputError(f"{path}: not an exporter JSON export (no 'data' object)")
    manifest = mf.check(document.get("manifest"), str(path))
    data = document["data"]

    def make(entry: Entry) -> Tensor:
        if entry["name"] not in data:
            return broken_tensor(entry, f"{path}: tensor {entry['name']!r} has no data")
        return entry_tensor(entry, lambda: _values(data[entry["name"]], entry, str(path)))

    return from_manifest(path, manifest, "json", make)


def _fast_values(values: Any, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """Nested JSON numbers straight to an array in C, or None when the slow path must decide
    (tokens for NaN payloads, ragged or mistyped values, zero-size shapes)."""
    if 0 in shape:
        return None
    try:
        if is_float(dtype):  # "NaN"/"Infinity" tokens parse as float(); payload tokens do not
            array = np.array(values, dtype=np.float64)
        else:
            array = np.array(values)
            if array.dtype.kind not in ("b" if dtype == np.bool_ else "iu"):
                return None
    except (ValueError, TypeError, OverflowError):
        return None
    if array.shape != shape:
        return None
    if array.dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            return None
    return array.astype(dtype)


def _values(values: Any, entry: Entry, where: str) -> np.ndarray:
    """Nested JSON values -> array of the entry's dtype and shape."""
    dtype = dtype_from_name(entry["dtype"])
    fast = _fast_values(values, dtype, tuple(entry["shape"]))
    if fast is not None:
        return fast
    try:
        nested = np.array(values, dtype=object)
    except ValueError:
        raise InputError(f"{where}: tensor {entry['name']!r} values are ragged") from None
    shape = tuple(entry["shape"])
    if nested.size == 0 and 0 in shape and nested.shape == shape[: nested.ndim]:
        nested = np.empty(shape, dtype=object)  # JSON writes [] for (0, 3), [[]] for (1, 0, 2)
    if tuple(nested.shape) != tuple(entry["shape"]):
        raise InputError(
            f"{where}: tensor {entry['name']!r} has shape {list(nested.shape)}, "
            f"manifest says {entry['shape']}"
        )
    flat = nested.reshape(-1)
    if is_float(dtype):
        strings = [v if isinstance(v, str) else repr(float(v)) for v in flat.tolist()]
    elif dtype == np.bool_:
        strings = ["true" if v is True else "false" if v is False else str(v) for v in flat]
    else:
        strings = [str(v) for v in flat.tolist()]
    return parse_flat(strings, dtype, f"{where}: tensor {entry['name']!r}").reshape(nested.shape)


# ---------------------------------------------------------------- registration

READERS.register("json", Reader("json", detect_json, read_json, "exporter JSON export"))
WRITERS.register(
    "json", Writer("json", (".json",), False, write_json, "one JSON document, exact values")
)
