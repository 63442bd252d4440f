"""Hostile cases: reads outside the input through symlinks, devices, and sizes a manifest or a
.npy header declares (issue #12, classes 4, 5 and the export-format part of 6).

Each secret lives outside the input, in a file whose text is a valid tensor, so that following
the link would succeed quietly; the corpus test proves that nothing is read (exit 3, one line,
no output). Cases that would hang without the fix (FIFOs) or eat memory (/dev/zero read to the
end) are in tests/test_sec_links.py, run in subprocesses with timeouts.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
from hostile_corpus import Case, export_seed, npy_header_only, rewrite_zip

SECRET_VALUES = "1234.5\n6789.25\n4242.125\n"  # a valid dense/bias (float32, 3 values)


def outside_secret(folder: Path) -> Path:
    """A file outside the export whose text would read as the tensor dense/bias."""
    secret = folder / "outside" / "secret.csv"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(SECRET_VALUES)
    return secret


def _csv_manifest_symlink(folder: Path) -> Path:
    path = export_seed(folder, "csv", "manifest_link.csv")
    outside = folder / "outside"
    outside.mkdir()
    (path / "manifest.json").rename(outside / "manifest.json")
    (path / "manifest.json").symlink_to(outside / "manifest.json")
    return path


def _csv_data_symlink(folder: Path) -> Path:
    path = export_seed(folder, "csv", "data_link.csv")
    secret = outside_secret(folder)
    (path / "dense" / "bias.csv").unlink()
    (path / "dense" / "bias.csv").symlink_to(secret)
    return path


def _csv_folder_symlink(folder: Path) -> Path:
    """The folder 'dense' of the export is a symlink to an outside folder holding bias.csv."""
    path = export_seed(folder, "csv", "folder_link.csv")
    secret = outside_secret(folder)
    (path / "dense" / "bias.csv").rename(secret.parent / "bias.csv")
    (path / "dense" / "kernel.csv").rename(secret.parent / "kernel.csv")
    (path / "dense").rmdir()
    (path / "dense").symlink_to(secret.parent)
    return path


def _csv_long_symlink(folder: Path) -> Path:
    path = export_seed(folder, "csv-long", "long_link.csv")
    outside = folder / "outside"
    outside.mkdir()
    (path / "weights.csv").rename(outside / "weights.csv")
    (path / "weights.csv").symlink_to(outside / "weights.csv")
    return path


def _csv_devzero(folder: Path) -> Path:
    path = export_seed(folder, "csv", "devzero.csv")
    (path / "dense" / "bias.csv").unlink()
    (path / "dense" / "bias.csv").symlink_to("/dev/zero")
    return path


def _csv_long_line(folder: Path) -> Path:
    """dense/bias (3 values) as one line of 32 MiB: refused by size before it is read."""
    path = export_seed(folder, "csv", "longline.csv")
    with open(path / "dense" / "bias.csv", "wb") as handle:
        handle.write(b"1" + b"0" * (32 << 20) + b"\n2\n3\n")
    return path


def _csv_long_table_huge(folder: Path) -> Path:
    path = export_seed(folder, "csv-long", "longtable.csv")
    with open(path / "weights.csv", "ab") as handle:
        handle.write(b"steps,4," + b"9" * (32 << 20) + b"\n")
    return path


def _resaved(name: str, member: bytes):
    """The seed NPZ with its manifest as numpy re-saves it (manifest.json.npy), replaced."""

    def build(folder: Path) -> Path:
        path = export_seed(folder, "npz", name)

        def change(member_name: str, data: bytes):
            if member_name == "manifest.json":
                return "manifest.json.npy", member
            return member_name, data

        return rewrite_zip(path, change)

    return build


def _onnx_folder_symlink(folder: Path) -> Path:
    """External data at sub/weights.bin where sub is a symlink to an outside folder."""
    import onnx_models as om

    outside = folder / "outside"
    outside.mkdir()
    om.external_model(outside)
    inner = folder / "model"
    inner.mkdir()
    (inner / "sub").symlink_to(outside)
    path, _ = om.external_model(inner, location="sub/weights.bin", write_data=False)
    return path


def _onnx_devzero(folder: Path) -> Path:
    import onnx_models as om

    path, _ = om.external_model(folder, write_data=False)
    os.symlink("/dev/zero", folder / "weights.bin")
    return path


def _pickled_npy(value: str) -> bytes:
    """A .npy of a 0-d object array (its data is a pickle)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(value, dtype=object), allow_pickle=True)
    return buffer.getvalue()


CASES: list[Case] = [
    Case("csv-manifest-symlink", _csv_manifest_symlink, 3, "manifest.json is a symlink"),
    Case("csv-data-symlink", _csv_data_symlink, 3, "bias.csv' is a symlink"),
    Case("csv-data-folder-symlink", _csv_folder_symlink, 3, "goes through a symlink"),
    Case("csv-long-table-symlink", _csv_long_symlink, 3, "weights.csv' is a symlink"),
    Case("csv-data-devzero-symlink", _csv_devzero, 3, "is a symlink"),
    Case("csv-line-of-32-mib", _csv_long_line, 3, "bytes, more than the"),
    Case("csv-long-table-huge-value", _csv_long_table_huge, 3, "bytes, more than the"),
    Case(
        "npz-resaved-manifest-huge-shape",
        _resaved("resaved_shape.npz", npy_header_only((10**12,), "<U1")),
        3,
        "declares",
    ),
    Case(
        "npz-resaved-manifest-huge-unicode",
        _resaved("resaved_unicode.npz", npy_header_only((), "<U400000000")),
        3,
        "declares",
    ),
    Case(
        "npz-resaved-manifest-object",
        _resaved("resaved_object.npz", _pickled_npy(json.dumps({"format": "exporter.weights"}))),
        3,
        "objects|pickle",
    ),
    Case("onnx-external-folder-symlink", _onnx_folder_symlink, 3, "goes through a symlink"),
    Case("onnx-external-devzero", _onnx_devzero, 3, "symlink"),
]
