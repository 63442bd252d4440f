"""NPZ: one .npy member per tensor keyed by canonical name, plus a manifest.json member.

Loads with plain numpy.load(path). Tensors are read and written one at a time; numpy writes a
member through a 16 MiB buffer, so memory is one tensor plus that buffer. Members are stored (not deflated) with fixed zip metadata, so
the same weights give the same bytes. dtypes numpy has no .npy code for (bfloat16, float8) are
stored as unsigned integers of the same width; the manifest holds the real dtype.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..dtypes import as_little_endian, dtype_name
from ..weightset import WeightSet, sha256_of
from . import WRITERS, WriteOptions, Writer

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_STORAGE = {"bfloat16": np.uint16, "float8_e4m3fn": np.uint8, "float8_e5m2": np.uint8}


def zip_info(name: str) -> zipfile.ZipInfo:
    """A ZipInfo with fixed time and attributes (reproducible archives)."""
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def storage_array(array: np.ndarray) -> np.ndarray:
    """The array as it is stored in a .npy member (little-endian, exotic floats as uints)."""
    array = as_little_endian(array)
    storage = _STORAGE.get(dtype_name(array.dtype))
    return array.view(storage) if storage is not None else array


def write_npz(ws: WeightSet, path: Path, options: WriteOptions) -> dict:
    entries = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for tensor in ws:
            array = storage_array(tensor.read())
            member = f"{tensor.name}.npy"
            big = array.nbytes > (1 << 31) - (1 << 20)
            with archive.open(zip_info(member), "w", force_zip64=big) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
            entries.append(mf.TensorEntry(tensor, sha256_of(array), member))
            del array  # before the next tensor is read: one tensor in memory at a time
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        archive.writestr(zip_info("manifest.json"), mf.dumps(manifest))
    return manifest


WRITERS.register(
    "npz", Writer("npz", (".npz",), False, write_npz, "NumPy .npz, one .npy member per tensor")
)
