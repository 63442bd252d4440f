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

Read back from the folder's descriptor (files opened relative to it, no symlinks, regular files
only), each data file bounded by what its manifest's values can need before it is read.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_from_name, is_float
from exporter.core.errors import InputError, UsageError
from exporter.core.weightset import WeightSet, sha256_of
from exporter.files.inputs import Folder, InputFile, relative_parts
from exporter.formats import manifest as mf
from exporter.formats.common import MAX_MANIFEST_BYTES, Entry, entry_tensor, from_manifest
from exporter.formats.names import FolderPlan
from exporter.formats.textformat import CHUNK_VALUES, csv_rows, csv_values, parse_flat
from exporter.readers import READERS, Probe, Reader, ReadOptions
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._ -")
LONG_TABLE = "weights.csv"
LONG_HEADER = ("tensor", "index", "value")
MANIFEST_FILE = "manifest.json"
MAX_PART = 200  # bytes of one path component (file systems allow 255)
# Names Windows gives to devices, whatever the extension (`nul.csv` is the device NUL too).
_DEVICES = {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)}


# ---------------------------------------------------------------- writing


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


def wide_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, values per row) of a tensor in the wide layout: a scalar is 1x1, 1-D a column,
    higher ranks (shape[0], product of the rest)."""
    if not shape:
        return (1, 1)
    if len(shape) == 1:
        return (shape[0], 1)
    return (shape[0], math.prod(int(n) for n in shape[1:]))


def wide_matrix(array: np.ndarray) -> np.ndarray:
    """The 2-D view a tensor is written as (wide_shape)."""
    return array.reshape(wide_shape(array.shape))


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
        out.write(",".join(LONG_HEADER) + "\n")
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


# ---------------------------------------------------------------- reading


def detect_csv(probe: Probe) -> bool:
    return probe.is_dir and MANIFEST_FILE in probe.members


# Bytes one value may take in CSV text, separator and stray spaces included (the writer's longest
# token is 24: "-2.2250738585072014e-308"), and the slack on top: a data file is refused before
# it is read when it is larger than its manifest's values can need.
VALUE_WIDTH = 64
TEXT_SLACK = 64 << 10


def read_csv(source: InputFile, options: ReadOptions) -> WeightSet:
    """A CSV export folder, kept open: every file is read relative to the folder's descriptor
    (the one detection listed)."""
    path = source.path
    folder = source.folder()
    text = folder.read((MANIFEST_FILE,), MAX_MANIFEST_BYTES, str(path), MANIFEST_FILE)
    manifest = mf.parse(text, str(path / MANIFEST_FILE))
    if manifest.get("layout", "wide") == "long":
        columns: dict[str, list[str]] | None = None

        def long_values(entry: Entry) -> np.ndarray:
            nonlocal columns
            if columns is None:
                columns = _read_long(folder, manifest["tensors"])
            strings, shape = columns[entry["name"]], tuple(entry["shape"])
            if len(strings) != _values_in(entry):
                raise InputError(f"{path}: tensor {entry['name']!r} has {len(strings)} values")
            where = f"{path}: tensor {entry['name']!r}"
            return parse_flat(strings, dtype_from_name(entry["dtype"]), where).reshape(shape)

        return from_manifest(
            path, manifest, "csv", lambda e: entry_tensor(e, lambda: long_values(e))
        )
    return from_manifest(
        path, manifest, "csv", lambda e: entry_tensor(e, lambda: _read_wide(folder, e))
    )


def _values_in(entry: Entry) -> int:
    return math.prod(int(n) for n in entry["shape"])  # Python ints: no int64 wraparound


def _read_data(folder: Folder, location: str, limit: int, where: str) -> bytes:
    """A data file of a CSV export: inside the folder, no symlink on the way, a regular file
    (checked on the descriptor, so a FIFO or device is refused unread), at most limit bytes."""
    parts = relative_parts(location, where, "manifest location", "the folder")
    return folder.read(parts, limit, where, f"data file {location!r}")


def _fast_wide(raw: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """Float values of a wide CSV parsed in C, the row structure checked on the bytes; None
    when the slow path must decide (other dtypes, NaN payload tokens, CRLF, damage)."""
    rows, width = wide_shape(shape)
    if not is_float(dtype) or rows * width == 0 or not raw.endswith(b"\n") or b"\r" in raw:
        return None
    buf = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    commas = np.flatnonzero(buf == ord(","))
    per_row = np.bincount(np.searchsorted(ends, commas), minlength=len(ends))
    if len(ends) != rows or np.any(per_row != width - 1):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, not raises, when a token does not parse
        try:
            flat = np.fromstring(raw.replace(b"\n", b",").decode("ascii"), np.float64, sep=",")
        except (ValueError, DeprecationWarning, UnicodeDecodeError):
            return None
    if flat.size != rows * width:
        return None
    return flat.astype(dtype).reshape(shape)


def _read_wide(folder: Folder, entry: Entry) -> np.ndarray:
    where = f"{folder.path}: tensor {entry['name']!r}"
    rows = wide_shape(tuple(entry["shape"]))[0]
    limit = _values_in(entry) * VALUE_WIDTH + 2 * rows + TEXT_SLACK  # 2: "\r\n" of empty rows
    raw = _read_data(folder, entry["location"], limit, where)
    shape = tuple(entry["shape"])
    fast = _fast_wide(raw, dtype_from_name(entry["dtype"]), shape)
    if fast is not None:
        return fast
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: {entry['location']} is not UTF-8 text") from None
    expected = wide_shape(shape)
    lines = text.splitlines()
    while expected[1] and lines and not lines[-1].strip():
        lines.pop()  # blank lines an editor left at the end are not rows
    rows = [line.split(",") for line in lines]
    found = (len(rows), max((len(r) for r in rows), default=0)) if rows else (0, expected[1])
    if expected[1] == 0 and all(r == [""] for r in rows):
        found = (len(rows), 0)
    ragged = expected[1] and any(len(r) != found[1] for r in rows)
    if found != expected or ragged:
        raise InputError(
            f"{where}: {entry['location']} has {found[0]} rows of "
            f"{found[1]} values, shape {list(shape)} needs {expected[0]} of {expected[1]}"
        )
    strings = [s.strip() for row in rows for s in row if expected[1]]
    return parse_flat(strings, dtype_from_name(entry["dtype"]), where).reshape(shape)


def _long_limit(entries: list[Entry]) -> int:
    """The most bytes the long table of entries can need: per value its name (quoted, quotes
    doubled), an index, a value and separators."""
    per_name = (_values_in(e) * (2 * len(e["name"].encode()) + 24 + VALUE_WIDTH) for e in entries)
    return sum(per_name) + TEXT_SLACK


def _read_long(folder: Folder, entries: list[Entry]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {e["name"]: [] for e in entries}
    if not entries:
        return columns
    location = entries[0]["location"]
    table = f"{folder.path}/{location}"
    raw = _read_data(folder, location, _long_limit(entries), str(folder.path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{table}: not UTF-8 text") from None
    del raw
    with io.StringIO(text, newline="") as handle:
        rows = csv.reader(handle)
        if next(rows, None) != list(LONG_HEADER):
            raise InputError(f"{table}: header must be {','.join(LONG_HEADER)}")
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue  # a blank line (an editor's trailing newline) holds no value
            if len(row) != 3 or row[0] not in columns:
                raise InputError(f"{table}: bad row {row[:3]!r}")
            values = columns[row[0]]
            if int(row[1]) != len(values):
                raise InputError(f"{table}: tensor {row[0]!r} index {row[1]} out of order")
            values.append(row[2])
    return columns


# ---------------------------------------------------------------- registration

READERS.register("csv", Reader("csv", detect_csv, read_csv, "exporter CSV folder"))
WRITERS.register(
    "csv",
    Writer(
        "csv", (".csv", "/"), True, write_csv, "a folder of CSV files + manifest.json", plan_csv
    ),
)
