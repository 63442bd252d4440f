"""CSV: a folder with manifest.json and the values as text, exact (textformat).

Layout "wide" (default): one CSV per tensor, no header; 1-D tensors are a column, 2-D are
rows x columns, higher ranks are flattened to (shape[0], rest) with the real shape in the manifest;
a scalar is one value. Files mirror the tensor names (`dense/kernel` -> `dense/kernel.csv`), with
characters outside [A-Za-z0-9._ -] percent-encoded.
Layout "long": one `weights.csv` table with a header `tensor,index,value` (index in C order).
Values are formatted and written in blocks of at most CHUNK_VALUES (memory: one tensor plus one
block of text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..dtypes import as_little_endian
from ..errors import UsageError
from ..textformat import CHUNK_VALUES, csv_rows, csv_values
from ..weightset import WeightSet, sha256_of
from . import WRITERS, WriteOptions, Writer, write_and_hash

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._ -")
LONG_TABLE = "weights.csv"


MAX_PART = 200  # bytes of one path component (file systems allow 255)


def file_for(name: str) -> str:
    """The relative CSV path for a tensor name (percent-encoding unsafe characters; a component
    too long for a file system is cut and given a digest of its full text, so it stays unique)."""
    parts = ["".join(c if c in _SAFE else f"%{ord(c):02X}" for c in p) for p in name.split("/")]
    parts = ["%2E" + p[1:] if p.startswith(".") else p for p in parts]
    parts = [_short(p) for p in parts]
    return "/".join(parts) + ".csv"


def _short(part: str) -> str:
    if len(part) <= MAX_PART:
        return part
    import hashlib

    return f"{part[: MAX_PART - 17]}~{hashlib.sha256(part.encode()).hexdigest()[:16]}"


def wide_matrix(array: np.ndarray) -> np.ndarray:
    """The 2-D view a tensor is written as: 1-D a column, >= 2-D (shape[0], rest), scalar 1x1."""
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:])))


def wide_pieces(array: np.ndarray, chunk: int = CHUNK_VALUES) -> Iterator[bytes]:
    """The wide-layout CSV text of array, in pieces of at most about `chunk` values each."""
    matrix = wide_matrix(array if array.flags.c_contiguous else np.array(array, order="C"))
    rows, width = matrix.shape
    if width <= chunk:
        step = max(1, chunk // max(width, 1))
        for start in range(0, rows, step):
            yield csv_rows(matrix[start : start + step])
        return
    for row in matrix:  # one row is longer than a block: split it at commas
        for start in range(0, width, chunk):
            piece = csv_rows(row[start : start + chunk].reshape(1, -1))[:-1]
            yield (b"," if start else b"") + piece
        yield b"\n"


def wide_text(array: np.ndarray) -> str:
    """Values as CSV rows (small tensors; the writer streams pieces)."""
    return b"".join(wide_pieces(as_little_endian(array))).decode()


def _write_wide(ws: WeightSet, folder: Path, options: WriteOptions) -> list:
    entries, taken = [], set()
    for tensor in ws:
        location = file_for(tensor.name)
        if location.lower() in taken:
            raise UsageError(
                f"tensor names collide as CSV files: {location}; use --csv-layout long"
            )
        taken.add(location.lower())
        target = folder / location
        target.parent.mkdir(parents=True, exist_ok=True)
        array = as_little_endian(tensor.read())
        with open(target, "wb") as out:
            digest = write_and_hash(array, lambda a, o=out: o.writelines(wide_pieces(a)))
        entries.append(mf.TensorEntry(tensor, digest, location))
        del array
        if options.progress:
            options.progress(tensor.name)
    return entries


def long_pieces(name: str, array: np.ndarray, chunk: int = CHUNK_VALUES) -> Iterator[str]:
    """Rows `name,index,value` of the long table for one tensor, a block at a time."""
    quoted = io.StringIO()
    csv.writer(quoted, lineterminator="").writerow([name])
    prefix = quoted.getvalue() + ","
    flat = np.ascontiguousarray(array).reshape(-1)
    for start in range(0, flat.size, chunk):
        values = csv_values(flat[start : start + chunk])
        indices = range(start, start + len(values))
        yield "".join(f"{prefix}{i},{v}\n" for i, v in zip(indices, values, strict=True))


def _write_long(ws: WeightSet, folder: Path, options: WriteOptions) -> list:
    entries = []
    with open(folder / LONG_TABLE, "w", encoding="utf-8", newline="") as out:
        out.write("tensor,index,value\n")
        for tensor in ws:
            array = as_little_endian(tensor.read())
            for piece in long_pieces(tensor.name, array):
                out.write(piece)
            entries.append(mf.TensorEntry(tensor, sha256_of(array), LONG_TABLE))
            del array
            if options.progress:
                options.progress(tensor.name)
    return entries


def write_csv(ws: WeightSet, folder: Path, options: WriteOptions) -> dict:
    if options.csv_layout not in ("wide", "long"):
        raise UsageError(f"unknown CSV layout {options.csv_layout!r}; use wide or long")
    write = _write_wide if options.csv_layout == "wide" else _write_long
    entries = write(ws, folder, options)
    manifest = mf.build(ws.info, entries, layout=options.csv_layout, created=options.created_at)
    (folder / "manifest.json").write_text(mf.dumps(manifest), encoding="utf-8", newline="\n")
    return manifest


WRITERS.register(
    "csv", Writer("csv", (".csv", "/"), True, write_csv, "a folder of CSV files + manifest.json")
)
