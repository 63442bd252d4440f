"""The one dtype table: every dtype exporter handles, one row each (`DType`), with how each file
format spells or stores it.

    TABLE                     the rows, in the order messages list them (`SUPPORTED`)
    by_name(name)             row for a manifest dtype string ('float32', 'bfloat16'); InputError
    by_dtype(dtype)           row for a numpy dtype (any byte order); InputError if unsupported
    by_safetensors_code(code) row for a safetensors header code ('F32', 'BF16'), or None
    by_onnx_type(number)      row for an ONNX TensorProto element type (1, 16, ...), or None
    by_hdf5_opaque(itemsize, declared=None)
                              row for an HDF5 opaque dataset (|V<itemsize>) whose `dtype`
                              attribute says declared (None: no attribute), or None
    unsigned(itemsize)        the unsigned integer dtype of that width (bit views)
    dtype_name(dtype) / dtype_from_name(name) / is_float / is_extra / extra_dtype /
    as_little_endian          the helpers built on the table

bfloat16 and float8 come from ml_dtypes. ml_dtypes costs 0.5-1.3 s to import (its extension module
registers its types with numpy), so it is imported only when such a tensor is actually met: rows
hold names, compared as strings first, and `extra_dtype` resolves an ml_dtypes name on first use.
A dtype object of one of these types can only exist once ml_dtypes (or a library bundling it) is
loaded, so checking such a dtype never pays the import for a float32 model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from exporter.core.errors import InputError

# How a weight of each dtype sits in an HDF5 dataset (h5py, as Keras writes it):
HDF5_NATIVE = "native"  # as the numpy dtype itself
# as opaque bytes |V<itemsize>, known only by the dataset's `dtype` attribute (h5py writes
# float8_e4m3fn as |V1 and has no type at all for float8_e5m2)
HDF5_OPAQUE = "opaque"
# opaque too, and a bare |V<itemsize> without the attribute is this dtype: Keras 3 writes
# bfloat16 as |V2 with dtype='bfloat16', legacy .h5 files as a bare |V2
HDF5_OPAQUE_DEFAULT = "opaque-default"


@dataclass(frozen=True)
class DType:
    """One supported dtype and its spelling in every format exporter reads or writes."""

    name: str  # the manifest's dtype string (numpy's name; ml_dtypes' for bfloat16/float8)
    npy: str  # the dtype its .npy member is stored as (numpy has no .npy code for ml_dtypes types)
    safetensors: str  # the safetensors header code
    onnx: int  # the ONNX TensorProto.DataType number
    onnx_field: str  # the TensorProto field holding its values when raw_data is not used
    hdf5: str  # HDF5_NATIVE, HDF5_OPAQUE or HDF5_OPAQUE_DEFAULT
    extra: bool = False  # an ml_dtypes type (imported on first use)

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype (little-endian); imports ml_dtypes for the extra types."""
        return extra_dtype(self.name) if self.extra else np.dtype(self.name).newbyteorder("<")

    @property
    def itemsize(self) -> int:
        return np.dtype(self.npy).itemsize  # the storage has the same width (no ml_dtypes import)

    @property
    def npy_dtype(self) -> np.dtype:
        """The dtype of its .npy storage (little-endian)."""
        return np.dtype(self.npy).newbyteorder("<")


def _row(name, safetensors, onnx, field="int32_data", npy=None, hdf5=HDF5_NATIVE) -> DType:
    extra = npy is not None
    return DType(name, npy or name, safetensors, onnx, field, hdf5, extra)


TABLE: tuple[DType, ...] = (
    _row("bool", "BOOL", 9),
    _row("int8", "I8", 3),
    _row("int16", "I16", 5),
    _row("int32", "I32", 6),
    _row("int64", "I64", 7, "int64_data"),
    _row("uint8", "U8", 2),
    _row("uint16", "U16", 4),
    _row("uint32", "U32", 12, "uint64_data"),
    _row("uint64", "U64", 13, "uint64_data"),
    _row("float16", "F16", 10),
    _row("float32", "F32", 1, "float_data"),
    _row("float64", "F64", 11, "double_data"),
    _row("bfloat16", "BF16", 16, npy="uint16", hdf5=HDF5_OPAQUE_DEFAULT),
    _row("float8_e4m3fn", "F8_E4M3", 17, npy="uint8", hdf5=HDF5_OPAQUE),
    _row("float8_e5m2", "F8_E5M2", 19, npy="uint8", hdf5=HDF5_OPAQUE),
)
_BY_NAME = {row.name: row for row in TABLE}
_BY_SAFETENSORS = {row.safetensors: row for row in TABLE}
_BY_ONNX = {row.onnx: row for row in TABLE}
EXTRA_NAMES = tuple(row.name for row in TABLE if row.extra)  # ml_dtypes types exporter handles
SUPPORTED = tuple(row.name for row in TABLE)


def by_name(name: str) -> DType:
    """The row of a manifest dtype name; InputError naming what is supported otherwise."""
    row = _BY_NAME.get(name) if isinstance(name, str) else None
    if row is None:
        raise InputError(
            f"unknown dtype {name!r} in manifest: exporter handles {', '.join(SUPPORTED)}"
        )
    return row


def by_dtype(dtype: np.dtype) -> DType:
    """The row of a numpy dtype (any byte order); InputError for a dtype exporter cannot export."""
    dtype = np.dtype(dtype)
    row = _BY_DTYPE.get(dtype)
    if row is None:
        row = _BY_NAME.get(dtype.name)
        if row is None or not (is_extra(dtype) if row.extra else dtype.kind in "biuf"):
            raise InputError(
                f"unsupported dtype {dtype!s}: exporter handles {', '.join(SUPPORTED)}"
            )
        _BY_DTYPE[dtype] = row  # a handful of dtypes: the lookup is per tensor
    return row


_BY_DTYPE: dict[np.dtype, DType] = {}


def by_safetensors_code(code: object) -> DType | None:
    """The row of a safetensors dtype code ('F32', 'BF16', 'F8_E4M3'), None if unsupported."""
    return _BY_SAFETENSORS.get(code) if isinstance(code, str) else None


def by_onnx_type(number: int) -> DType | None:
    """The row of an ONNX TensorProto element type (1 float, 16 bfloat16, ...), None if
    unsupported (strings, complex, 4-bit and the float8 variants exporter does not handle)."""
    return _BY_ONNX.get(number)


def by_hdf5_opaque(itemsize: int, declared: str | None = None) -> DType | None:
    """The row of an HDF5 dataset Keras wrote as opaque bytes: the type its `dtype` attribute
    declares when that is a type stored opaque (whatever the width: the reader checks the bytes
    when it reads them), else the type a bare opaque of itemsize bytes stands for without the
    attribute (|V2: bfloat16); None when neither applies."""
    row = _BY_NAME.get(declared) if isinstance(declared, str) else None
    if row is not None and row.hdf5 != HDF5_NATIVE:
        return row
    bare = (r for r in TABLE if r.hdf5 == HDF5_OPAQUE_DEFAULT and r.itemsize == itemsize)
    return next(bare, None)


@functools.cache
def unsigned(itemsize: int) -> np.dtype:
    """The unsigned integer dtype (native order) of itemsize bytes, to look at a value's bits."""
    return np.dtype(f"u{itemsize}")


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
    return by_dtype(dtype).name


def dtype_from_name(name: str) -> np.dtype:
    """The numpy dtype (native little-endian) for a manifest dtype name."""
    return by_name(name).numpy


def is_float(dtype: np.dtype) -> bool:
    """True for every floating dtype, bfloat16 and float8 included."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or is_extra(dtype)


def as_little_endian(array: np.ndarray) -> np.ndarray:
    """A C-contiguous little-endian view or copy of array (the byte order hashes are taken in)."""
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return array if array.flags.c_contiguous else np.array(array, order="C")
