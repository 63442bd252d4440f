"""JSON: one document {"data": {name: nested values}, "manifest": {...}}.

Values are exact (textformat): the shortest decimal that reads back to the same value of the
tensor's dtype; NaN and infinities as the tokens "NaN", "Infinity", "-Infinity".
Tensors are written in blocks of at most CHUNK_VALUES values (whole rows where rows are small),
so memory stays at one tensor plus one block of text, whatever the model's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from exporter.core.dtypes import as_little_endian
from exporter.core.weightset import WeightSet
from exporter.files.publish import OutputFile
from exporter.formats import manifest as mf
from exporter.formats.textformat import CHUNK_VALUES, json_block
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash


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
            digest = write_and_hash(array, lambda a: out.writelines(json_pieces(a)))
            entries.append(mf.TensorEntry(tensor, digest, f"data/{tensor.name}"))
            del array
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        out.write(b"\n},\n")
        out.write(('"manifest": ' + mf.dumps(manifest).rstrip("\n") + "\n}\n").encode())
    return manifest


WRITERS.register(
    "json", Writer("json", (".json",), False, write_json, "one JSON document, exact values")
)
