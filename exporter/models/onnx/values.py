"""ONNX values as tensors: TensorProtos, sparse tensors and attributes become lazy Tensors.

`Values` gathers what a walk over a model finds (walk.py): numeric tensors (lazy: a TensorProto is
decoded, or its external data memory-mapped, only when the tensor is read), strings (which are
not numbers: kept for the source info), sparse tensors' dense shapes, ConstantOfShape outputs
(computed when the model runs, not stored), the external data files used, and the ONNX names
that had to be made safe. Every stored size is checked against dtype x shape when found.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.dtypes import SUPPORTED, by_dtype, by_onnx_type, is_float
from exporter.core.errors import InputError, UnsupportedError
from exporter.core.weightset import Tensor
from exporter.files.archive import declared_nbytes
from exporter.files.inputs import Folder
from exporter.models.onnx.external import EXTERNAL, external_ref, load_external

# ---------------------------------------------------------------- names


def _escape_segment(segment: str) -> str:
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return "".join(f"%{ord(c):02X}" if ord(c) < 32 or c == "\\" else c for c in segment)


def safe_name(raw: str) -> str:
    """raw as a safe tensor name: empty segments dropped, '.', '..', '\\' and controls escaped."""
    segments = [_escape_segment(s) for s in raw.split("/") if s]
    return "/".join(segments)


# ---------------------------------------------------------------- values


class Values:
    """The tensors, strings, sparse shapes and computed values found in one model."""

    def __init__(self, folder: Folder | Path | None, where: str):
        self.folder = folder
        self.where = where
        self.tensors: list[Tensor] = []
        self.strings: dict[str, Any] = {}
        self.sparse: dict[str, Any] = {}
        self.computed: list[dict[str, Any]] = []
        self.external: set[str] = set()
        self.renamed: set[str] = set()

    def name(self, raw: str) -> str:
        name = safe_name(raw)
        if not name:
            raise InputError(f"{self.where}: a tensor has an empty name ({raw!r})")
        if name != raw:
            self.renamed.add(raw)
        return name

    # ------------------------------------------------------------ values

    def attribute(self, raw: str, attr, scope: str) -> None:
        """One attribute of a Constant or ai.onnx.ml node, as tensors or strings."""
        kind = attr.type or infer_attr_type(attr)
        origin = f"{scope}attribute {attr.name}"
        if kind == 1:  # FLOAT
            self.array(raw, np.array(attr.f, np.float32), origin)
        elif kind == 2:  # INT
            self.array(raw, np.array(attr.i, np.int64), origin)
        elif kind == 6:  # FLOATS
            self.array(raw, np.array(attr.floats, np.float32), origin)
        elif kind == 7:  # INTS
            self.array(raw, np.array(attr.ints, np.int64), origin)
        elif kind == 3:  # STRING
            self.put_strings(raw, [attr.s], [])
        elif kind == 8:  # STRINGS
            self.put_strings(raw, list(attr.strings), [len(attr.strings)])
        elif kind == 4:  # TENSOR
            self.tensor(raw, attr.t, origin)
        elif kind == 9:  # TENSORS
            for i, tensor in enumerate(attr.tensors):
                self.tensor(f"{raw}/{i}", tensor, f"{origin}[{i}]")
        elif kind == 11:  # SPARSE_TENSOR
            self.sparse_tensor(raw, attr.sparse_tensor, origin)
        elif kind == 12:  # SPARSE_TENSORS
            for i, sparse in enumerate(attr.sparse_tensors):
                self.sparse_tensor(f"{raw}/{i}", sparse, f"{origin}[{i}]")
        # TYPE_PROTO(S) describe types, not values.

    def array(self, raw: str, array: np.ndarray, origin: str) -> None:
        name = self.name(raw)
        self.tensors.append(Tensor.from_array(name, array, origin=origin))

    def put_strings(self, raw: str, values: list, shape: list[int]) -> None:
        text = [
            v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
            for v in values
        ]
        name = self.name(raw)
        if name in self.strings:
            raise InputError(f"{self.where}: duplicate string value name {name!r}")
        self.strings[name] = {"shape": shape, "values": text}

    def sparse_tensor(self, raw: str, sparse, origin: str) -> None:
        dims = [int(d) for d in sparse.dims]
        label = f"{self.where}: sparse tensor {raw!r}"
        declared_nbytes(dims, 1, f"{label} (dense shape)")  # refused when negative or absurd
        nnz = declared_nbytes(sparse.values.dims, 1, f"{label} values") if sparse.values.dims else 0
        where = f"{origin}, dense shape {dims}"
        self.sparse[self.name(raw)] = {"dims": dims, "nnz": nnz}
        self.tensor(f"{raw}/values", sparse.values, f"{where}: values")
        self.tensor(f"{raw}/indices", sparse.indices, f"{where}: indices")

    def tensor(self, raw: str, proto, origin: str) -> None:
        """A TensorProto as a lazy Tensor (or strings); stored size checked now."""
        label = f"{self.where}: tensor {raw!r}"
        dtype = np_dtype(proto, label)
        if dtype.kind == "O":
            values = self.decode(proto, raw)
            self.put_strings(raw, values.reshape(-1).tolist(), list(values.shape))
            return
        shape = tuple(int(d) for d in proto.dims)
        nbytes = declared_nbytes(shape, dtype.itemsize, label)  # Python ints: no int64 wrap
        if proto.data_location == EXTERNAL:
            source, origin = self.external_source(proto, dtype, shape, nbytes, label, origin)
        else:  # checked now, so spec and check (which read no values) refuse it too
            check_stored_size(proto, dtype, shape, label)
            in_raw_data = proto.HasField("raw_data") and sys.byteorder == "little"
            source = (_raw_decoder if in_raw_data else _decoder)(proto, dtype, shape, label)
        name = self.name(raw)
        self.tensors.append(Tensor(name, dtype, shape, source, origin=origin[:2000]))

    def external_source(self, proto, dtype, shape, nbytes: int, label: str, origin: str):
        if self.folder is None:
            raise InputError(f"{label}: uses external data, but the model was not read from a file")
        ref = external_ref(proto, self.folder, nbytes, label)
        self.external.add(ref.location)

        def load() -> np.ndarray:
            return load_external(ref, dtype, shape, label)

        where = f"{origin}, external {ref.location!r} offset {ref.offset} length {ref.length}"
        return load, where

    def decode(self, proto, raw: str) -> np.ndarray:
        """A small TensorProto (strings, a ConstantOfShape value) decoded now, its declared
        size checked against what it stores first."""
        from onnx import numpy_helper

        label = f"{self.where}: tensor {raw!r}"
        if proto.data_location == EXTERNAL:  # onnx would read it relative to the working folder
            raise UnsupportedError(
                f"{label}: keeps strings or a fill value in external data, which exporter does "
                "not read; keep such tensors inside the model"
            )
        dtype = np_dtype(proto, label)
        shape = tuple(int(d) for d in proto.dims)
        declared_nbytes(shape, dtype.itemsize, label)
        if dtype.kind == "O":
            size_error(len(proto.string_data), math.prod(shape), "strings", shape, label)
        else:
            check_stored_size(proto, dtype, shape, label)
        try:
            return numpy_helper.to_array(proto)
        except Exception as exc:
            raise InputError(
                f"{self.where}: tensor {raw!r} cannot be decoded ({type(exc).__name__}: {exc})"
            ) from None


def first_value(array: np.ndarray) -> Any:
    """The first element of array as a plain Python value (None when empty)."""
    flat = array.reshape(-1)
    if not flat.size:
        return None
    return float(flat[0]) if is_float(flat.dtype) else flat[0].item()


def infer_attr_type(attr) -> int:
    """The type of an attribute from old models that left `type` unset (by the field present)."""
    for kind, field in ((1, "f"), (2, "i"), (3, "s"), (4, "t"), (5, "g"), (11, "sparse_tensor")):
        if attr.HasField(field):
            return kind
    for kind, field in ((6, "floats"), (7, "ints"), (8, "strings"), (9, "tensors"), (10, "graphs")):
        if len(getattr(attr, field)):
            return kind
    return 0


STRING = 8  # TensorProto.STRING: strings, kept for the source info (not numbers)


def np_dtype(proto, label: str) -> np.dtype:
    """The numpy dtype of a TensorProto's element type, from the dtype table (object for
    strings); InputError when it has none, UnsupportedError for a type exporter cannot export."""
    from onnx import TensorProto

    if proto.data_type == TensorProto.UNDEFINED:
        raise InputError(f"{label}: has no data type; the model is damaged")
    if proto.data_type == STRING:
        return np.dtype(object)
    row = by_onnx_type(proto.data_type)
    if row is not None:
        return row.numpy
    try:
        onnx_name = TensorProto.DataType.Name(proto.data_type)
    except ValueError:
        raise InputError(f"{label}: unknown ONNX data type {proto.data_type}") from None
    raise UnsupportedError(
        f"{label}: is {onnx_name}, which exporter cannot export "
        f"(it handles {', '.join(SUPPORTED)} and strings)"
    )


def check_stored_size(proto, dtype: np.dtype, shape: tuple[int, ...], label: str) -> None:
    """InputError unless the tensor stores exactly prod(shape) values of dtype (counted in
    Python integers: numpy int64 wraps)."""
    count = math.prod(shape)
    if proto.HasField("raw_data"):
        size_error(len(proto.raw_data), count * dtype.itemsize, "bytes", shape, label)
    else:
        field = by_dtype(dtype).onnx_field  # the typed field that holds its values
        size_error(len(getattr(proto, field)), count, "values", shape, label)


def size_error(stored: int, expected: int, unit: str, shape: tuple[int, ...], label: str) -> None:
    if stored != expected:
        raise InputError(
            f"{label}: stores {stored} {unit}, but its dtype and shape {list(shape)} need "
            f"{expected}; the model is damaged"
        )


def _raw_decoder(proto, dtype: np.dtype, shape: tuple[int, ...], label: str):
    """Loader of a tensor kept in raw_data (little-endian bytes of dtype, size checked when the
    model was read): the bytes are copied out of the protobuf once and used as they are."""
    expected = math.prod(shape) * dtype.itemsize

    def load() -> np.ndarray:
        raw = proto.raw_data
        size_error(len(raw), expected, "bytes", shape, label)  # a proto changed since
        return np.frombuffer(raw, dtype).reshape(shape)

    return load


def _decoder(proto, dtype: np.dtype, shape: tuple[int, ...], label: str):
    def load() -> np.ndarray:
        from onnx import numpy_helper

        try:
            array = numpy_helper.to_array(proto)
        except Exception as exc:
            raise InputError(f"{label}: cannot be decoded ({type(exc).__name__}: {exc})") from None
        return array.reshape(shape)

    return load
