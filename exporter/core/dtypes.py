"""Dtype names as they appear in manifests, including bfloat16 and float8 (from ml_dtypes).

ml_dtypes costs 0.5-1.3 s to import (its extension module registers its types with numpy), so
it is imported only when a bfloat16/float8 tensor is actually met: names are compared as strings
first, and `extra_dtype` resolves an ml_dtypes name on first use. A dtype object of one of these
types can only exist once ml_dtypes (or a library bundling it) is loaded, so checking such a dtype
never pays the import for a float32 model.
"""

from __future__ import annotations

import functools

import numpy as np

from exporter.core.errors import InputError

EXTRA_NAMES = ("bfloat16", "float8_e4m3fn", "float8_e5m2")  # ml_dtypes types exporter handles
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
SUPPORTED = tuple(_PLAIN) + EXTRA_NAMES


@functools.cache
def extra_dtype(name: str) -> np.dtype:
    """The numpy dtype of an ml_dtypes type by name ('bfloat16', ...), importing ml_dtypes now."""
    if name not in EXTRA_NAMES:
        raise KeyError(name)
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, name))


def is_extra(dtype: np.dtype) -> bool:
    """True for bfloat16/float8; a string test first, so float32 & co never import ml_dtypes."""
    return dtype.name in EXTRA_NAMES and dtype == extra_dtype(dtype.name)


def dtype_name(dtype: np.dtype) -> str:
    """The manifest name of a numpy dtype: 'float32', 'bfloat16', 'int64', 'bool', ..."""
    dtype = np.dtype(dtype)
    if is_extra(dtype):
        return dtype.name
    if dtype.kind in "biuf" and dtype.name in _PLAIN:
        return dtype.name
    raise InputError(f"unsupported dtype {dtype!s}: exporter handles {', '.join(SUPPORTED)}")


def dtype_from_name(name: str) -> np.dtype:
    """The numpy dtype (native little-endian) for a manifest dtype name."""
    if name in EXTRA_NAMES:
        return extra_dtype(name)
    if name in _PLAIN:
        return np.dtype(name).newbyteorder("<")
    raise InputError(f"unknown dtype {name!r} in manifest: exporter handles {', '.join(SUPPORTED)}")


def is_float(dtype: np.dtype) -> bool:
    """True for every floating dtype, bfloat16 and float8 included."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or is_extra(dtype)


def as_little_endian(array: np.ndarray) -> np.ndarray:
    """A C-contiguous little-endian view or copy of array (the byte order hashes are taken in)."""
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.array(array, order="C")
