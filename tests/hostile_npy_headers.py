"""Hostile .npy headers inside an NPZ: the plain-header fast path (formats/npz.py _plain_header)
must refuse exactly what numpy's own parser refuses, and huge shapes are exit 3, never exit 4."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hostile_corpus import Case


def npz_with_header(header: str) -> Callable[[Path], Path]:
    """A builder of an NPZ whose one member has this header text (padded as numpy pads it)."""

    def build(folder: Path) -> Path:
        raw = io.BytesIO()
        np.save(raw, np.zeros(2, np.float32))
        data = raw.getvalue()
        length = int.from_bytes(data[8:10], "little")
        text = header.ljust(length - 1).encode() + b"\n"
        path = folder / "header.npz"
        with zipfile.ZipFile(path, "w") as archive:
            member = data[:8] + len(text).to_bytes(2, "little") + text + data[10 + length :]
            archive.writestr("w.npy", member)
        return path

    return build


def _header(descr: str, shape: str) -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"


CASES: list[Case] = [
    Case("npy-leading-zero-dimension", npz_with_header(_header("<f4", "(02,)")), 3, "header"),
    Case("npy-unknown-descr", npz_with_header(_header("<x4", "(2,)")), 3, "dtype"),
    Case(
        "npy-dimension-over-intp",
        npz_with_header(_header("<f4", "(0, 9999999999999999999)")),
        3,
        "declares the shape",
    ),
    Case("npy-object-descr", npz_with_header(_header("|O8", "(2,)")), 3, "objects"),
]
