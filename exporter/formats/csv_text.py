"""CSV: a folder with manifest.json and the values as text, exact (textformat).

Layout "wide" (default): one CSV per tensor, no header; 1-D tensors are a column, 2-D are
rows x columns, higher ranks are flattened to (shape[0], rest) with the real shape in the manifest;
a scalar is one value. Files mirror the tensor names (`dense/kernel` -> `dense/kernel.csv`), with
characters outside [A-Za-z0-9._ -] percent-encoded (encode_part). Names that would still meet on
a case-insensitive file system (`Dense/kernel`, `dense/kernel`), or as a file and a folder (`a`,
`a.csv/x`), get a `~N` suffix (names.FolderPlan); the manifest's `location` records every path.
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

from exporter.core.dtypes import as_little_endian
from exporter.core.errors import UsageError
from exporter.core.weightset import WeightSet, sha256_of
from exporter.formats import manifest as mf
from exporter.formats.names import FolderPlan
from exporter.formats.textformat import CHUNK_VALUES, csv_rows, csv_values
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._ -")
LONG_TABLE = "weights.csv"
MANIFEST_FILE = "manifest.json"
MAX_PART = 200  # bytes of one path component (file systems allow 255)
# Names Windows gives to devices, whatever the extension (`nul.csv` is the device NUL too).
_DEVICES = {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)}


def encode_part(part: str) -> str:
    """One segment of a tensor name as a portable file name, one to one: characters outside
    [A-Za-z0-9._ -] become %XX per UTF-8 byte (so NFC and NFD spellings stay apart, and `%`
    itself is %25); a leading dot, trailing dots and spaces (dropped by Windows) and the first
    letter of a Windows device name are encoded too. A segment too long for a file system is cut
    and given a digest of its full text."""
    text = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in part)
    stripped = text.rstrip(". ")
    tail = "".join(f"%{ord(c):02X}" for c in text[len(stripped) :])
    if stripped.startswith("."):
        stripped = "%2E" + stripped[1:]
    if stripped.split(".")[0].rstrip(" ").lower() in _DEVICES:
        stripped = f"%{ord(stripped[0]):02X}" + stripped[1:]
    return _short(stripped + tail)


def file_for(name: str) -> str:
    """The relative CSV path for a tensor name when nothing collides with it (see plan_csv)."""
    return "/".join(encode_part(p) for p in name.split("/")) + ".csv"


def _short(part: str) -> str:
    if len(part) <= MAX_PART:
        return part
    import hashlib

    return f"{part[: MAX_PART - 17]}~{hashlib.sha256(part.encode()).hexdigest()[:16]}"


def plan_csv(ws: WeightSet, options: WriteOptions) -> dict[str, str]:
    """name -> location. Long layout: the one table. Wide: file_for(name), made unique on
    case-insensitive file systems and against manifest.json by names.FolderPlan (`~N` suffix)."""
    if options.csv_layout not in ("wide", "long"):
        raise UsageError(f"unknown CSV layout {options.csv_layout!r}; use wide or long")
    if options.csv_layout == "long":
        return {tensor.name: LONG_TABLE for tensor in ws}
    folder = FolderPlan(reserved_files=(MANIFEST_FILE,))
    return {t.name: folder.place([encode_part(p) for p in t.name.split("/")], ".csv") for t in ws}


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


def _write_wide(ws: WeightSet, folder: Path, options: WriteOptions, locations: Locations) -> list:
    entries = []
    for tensor in ws:
        location = locations[tensor.name]
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


def _write_long(ws: WeightSet, folder: Path, options: WriteOptions, locations: Locations) -> list:
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


def write_csv(ws: WeightSet, folder: Path, options: WriteOptions, locations: Locations) -> dict:
    """Write ws into folder as CSV (layout from options) at the planned locations, then the
    manifest."""
    write = _write_wide if options.csv_layout == "wide" else _write_long
    entries = write(ws, folder, options, locations)
    manifest = mf.build(ws.info, entries, layout=options.csv_layout, created=options.created_at)
    (folder / MANIFEST_FILE).write_text(mf.dumps(manifest), encoding="utf-8", newline="\n")
    return manifest


WRITERS.register(
    "csv",
    Writer(
        "csv", (".csv", "/"), True, write_csv, "a folder of CSV files + manifest.json", plan_csv
    ),
)
