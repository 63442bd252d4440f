"""Dtype names as they appear in manifests, including bfloat16 (from ml_dtypes)."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .errors import InputError

_EXTRA = {
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
}
_PLAIN = [
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
]
SUPPORTED = tuple(_PLAIN) + tuple(_EXTRA)


def dtype_name(dtype: np.dtype) -> str:
    """The manifest name of a numpy dtype: 'float32', 'bfloat16', 'int64', 'bool', ..."""
    dtype = np.dtype(dtype)
    for name, extra in _EXTRA.items():
        if dtype == extra:
            return name
    if dtype.kind in "biuf" and dtype.name in _PLAIN:
        return dtype.name
    raise InputError(f"unsupported dtype {dtype!s}: exporter handles {', '.join(SUPPORTED)}")


def dtype_from_name(name: str) -> np.dtype:
    """The numpy dtype (native little-endian) for a manifest dtype name."""
    if name in _EXTRA:
        return _EXTRA[name]
    if name in _PLAIN:
        return np.dtype(name).newbyteorder("<")
    raise InputError(f"unknown dtype {name!r} in manifest: exporter handles {', '.join(SUPPORTED)}")


def is_float(dtype: np.dtype) -> bool:
    """True for every floating dtype, bfloat16 and float8 included."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype in _EXTRA.values()


def as_little_endian(array: np.ndarray) -> np.ndarray:
    """A C-contiguous little-endian view or copy of array (the byte order hashes are taken in)."""
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.array(array, order="C")
