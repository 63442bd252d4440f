"""CSV: a folder with manifest.json and the values as text, exact (textformat).

Layout "wide" (default): one CSV per tensor, no header; 1-D tensors are a column, 2-D are
rows x columns, higher ranks are flattened to (shape[0], rest) with the real shape in the manifest;
a scalar is one value. Files mirror the tensor names (`dense/kernel` -> `dense/kernel.csv`), with
characters outside [A-Za-z0-9._ -] percent-encoded.
Layout "long": one `weights.csv` table with a header `tensor,index,value` (index in C order).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..errors import UsageError
from ..textformat import CSV_TOKENS, format_flat
from ..weightset import WeightSet, sha256_of
from . import WRITERS, WriteOptions, Writer

_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._ -")
LONG_TABLE = "weights.csv"


def file_for(name: str) -> str:
    """The relative CSV path for a tensor name (percent-encoding unsafe characters)."""
    parts = ["".join(c if c in _SAFE else f"%{ord(c):02X}" for c in p) for p in name.split("/")]
    parts = ["%2E" + p[1:] if p.startswith(".") else p for p in parts]
    return "/".join(parts) + ".csv"


def wide_text(array: np.ndarray) -> str:
    """Values as CSV rows: 1-D a column, >= 2-D (shape[0], rest), scalar one value."""
    strings = format_flat(array, CSV_TOKENS)
    if array.ndim == 0:
        return strings[0] + "\n"
    width = 1 if array.ndim == 1 else int(np.prod(array.shape[1:]))
    if width == 0:
        return "\n" * array.shape[0]
    return "".join(",".join(strings[i : i + width]) + "\n" for i in range(0, len(strings), width))


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
        array = tensor.read()
        target.write_text(wide_text(array), encoding="utf-8", newline="\n")
        entries.append(mf.TensorEntry(tensor, sha256_of(array), location))
        if options.progress:
            options.progress(tensor.name)
    return entries


def _write_long(ws: WeightSet, folder: Path, options: WriteOptions) -> list:
    entries = []
    with open(folder / LONG_TABLE, "w", encoding="utf-8", newline="") as out:
        out.write("tensor,index,value\n")
        for tensor in ws:
            array = tensor.read()
            quoted = io.StringIO()
            csv.writer(quoted, lineterminator="").writerow([tensor.name])
            prefix = quoted.getvalue() + ","
            strings = format_flat(array, CSV_TOKENS)
            out.write("".join(f"{prefix}{i},{v}\n" for i, v in enumerate(strings)))
            entries.append(mf.TensorEntry(tensor, sha256_of(array), LONG_TABLE))
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
