"""NPZ: one .npy member per tensor keyed by canonical name, plus a manifest.json member.

Loads with plain numpy.load(path). Tensors are read and written one at a time, each member
straight from the array's memory in 16 MiB slices (no copy), so memory is one tensor; a tensor
memory-mapped from the source file is copied from that file by the kernel (outputs.OutputFile)
while zipfile computes its CRC from the map. Members are stored (not deflated) with fixed zip
metadata, so the same weights give the same bytes. dtypes numpy has no .npy code for
(bfloat16, float8) are stored as unsigned integers of the same width; the manifest holds the
real dtype.

numpy.load finds a member both by its name and by its name without `.npy`, and the member's own
name wins: with tensors `x` and `x.npy`, `numpy.load(path)["x.npy"]` returns `x`. So a name that
is another tensor's member name (`x.npy` beside `x`), or `manifest.json`, is refused (plan_npz).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_name
from exporter.core.weightset import HASH_CHUNK, WeightSet
from exporter.files.publish import OutputFile
from exporter.formats import manifest as mf
from exporter.formats.names import flat_plan
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

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


def write_npy(handle: BinaryIO, array: np.ndarray) -> None:
    """The bytes numpy.lib.format.write_array writes, without its 16 MiB copy per slice."""
    header = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(handle, header)
    except ValueError:  # a header over 64 KiB (a very long shape) needs format 2.0
        np.lib.format.write_array_header_2_0(handle, header)
    flat = array.reshape(-1).view(np.uint8) if array.size else np.empty(0, np.uint8)
    for start in range(0, flat.size, HASH_CHUNK):
        handle.write(memoryview(flat[start : start + HASH_CHUNK]))


MANIFEST_MEMBER = "manifest.json"


def member_for(name: str) -> str:
    """The archive member that holds a tensor."""
    return f"{name}.npy"


def plan_npz(ws: WeightSet, options: WriteOptions) -> dict[str, str]:
    """name -> member, refusing names that numpy.load would not find (see the module doc)."""
    return flat_plan(
        ws,
        "numpy.load key",
        member_for,
        claims=lambda name: (name, member_for(name)),
        reserved={MANIFEST_MEMBER: "the manifest"},
    )


def write_npz(ws: WeightSet, path: Path, options: WriteOptions, locations: Locations) -> dict:
    """Write ws as an NPZ at path, each tensor as member locations[name]; the manifest last."""
    entries = []
    with (
        OutputFile(path) as out,
        zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive,
    ):
        for tensor in ws:
            array = storage_array(tensor.read())
            member = locations[tensor.name]
            big = array.nbytes > (1 << 31) - (1 << 20)
            with archive.open(zip_info(member), "w", force_zip64=big) as handle:
                digest = write_and_hash(array, lambda a, h=handle: write_npy(h, a))
            entries.append(mf.TensorEntry(tensor, digest, member))
            del array  # before the next tensor is read: one tensor in memory at a time
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        archive.writestr(zip_info(MANIFEST_MEMBER), mf.dumps(manifest))
    return manifest


WRITERS.register(
    "npz",
    Writer("npz", (".npz",), False, write_npz, "NumPy .npz, one .npy member per tensor", plan_npz),
)
