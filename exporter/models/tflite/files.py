"""TFLite models (`.tflite`), read as data: no TensorFlow, no interpreter, no generated code.

A `.tflite` file is a FlatBuffer of TensorFlow's schema (tensorflow/compiler/mlir/lite/schema/
schema.fbs) with the file identifier "TFL3" at bytes 4..8, which is how it is recognised. It is
walked with bounded accessors (flatbuf.py): every offset, vtable and length is checked against the
file before it is followed.

Tensors, subgraph by subgraph:

- Every tensor backed by a constant buffer (a buffer with data, inline or at an `offset` past the
  FlatBuffer, the >2 GB layout) is a tensor named by its TFLite name, with its dtype (float32,
  float16, bfloat16, float64, int8/16/32/64, uint8/16/32/64, bool) and shape as stored. Values
  are read lazily, memory-mapped from the file. Activations and inputs (no buffer) are not
  parameters and are left out. Subgraph 0 is unprefixed; subgraph s > 0 (control flow bodies)
  is prefixed `<subgraph name>/` (`subgraph<s>/` when it has none).
- A quantized tensor gets two more: `<name>/scale` (float32, one per channel) and
  `<name>/zero_point` (int64), exactly as stored. The source info's `quantization` maps the
  tensor's name to `{"axis": quantized dimension or null for per-tensor, "scale": ...,
  "zero_point": ...}` (the names of those tensors).

Refused (exit 3): sparse constant tensors (TFLite sparsity; densifying is not implemented),
buffers or shapes that disagree in size, a buffer index out of range, a scale count that
disagrees with the quantized axis. Tensors of types that are not numbers (STRING, RESOURCE,
VARIANT, COMPLEX, packed INT4) are listed under `skipped` in the source info, with a warning.
"""

from __future__ import annotations

import mmap
from collections import Counter
from typing import Any

import numpy as np

from exporter.core.dtypes import by_name
from exporter.core.errors import InputError, UnsupportedError
from exporter.core.weightset import ModelInfo, Note, Tensor, WeightSet
from exporter.files.archive import declared_nbytes
from exporter.files.inputs import InputFile
from exporter.files.maps import file_array
from exporter.models.onnx.values import safe_name
from exporter.models.tflite.flatbuf import Buffer, Table
from exporter.readers import READERS, Probe, Reader, ReadOptions

IDENTIFIER = b"TFL3"
# Tensors may share a buffer (the converter deduplicates equal constants), so what a file declares
# can exceed its size; a file declaring more than this is refused (exporting it would write far
# more than it holds: 1 MB of tensor tables can name one 1 MB buffer a million times).
SHARED_LIMIT_FACTOR, SHARED_LIMIT_EXTRA = 2, 64 << 20
# TensorType numbers (schema.fbs) -> exporter dtype names; the others are not numbers we export.
TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
    9: "int8", 10: "float64", 12: "uint64", 15: "uint32", 16: "uint16", 18: "bfloat16",
}  # fmt: skip
OTHER_TYPES = {
    5: "STRING",
    8: "COMPLEX64",
    11: "COMPLEX128",
    13: "RESOURCE",
    14: "VARIANT",
    17: "INT4",
}

# Field numbers (schema.fbs order).
MODEL_VERSION, MODEL_SUBGRAPHS, MODEL_DESCRIPTION, MODEL_BUFFERS = 0, 2, 3, 4
SUBGRAPH_TENSORS, SUBGRAPH_NAME = 0, 4
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANT, TENSOR_SPARSITY = (
    0,
    1,
    2,
    3,
    4,
    6,
)
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
QUANT_SCALE, QUANT_ZERO_POINT, QUANT_DETAILS_TYPE, QUANT_AXIS = 2, 3, 4, 6


def _is_tflite(probe: Probe) -> bool:
    return not probe.is_dir and not probe.members and probe.head[4:8] == IDENTIFIER


def read_tflite(source: InputFile, options: ReadOptions) -> WeightSet:
    """Every constant tensor of a .tflite file, with its quantization parameters."""
    where = str(source.path)
    if source.size < 8:
        raise InputError(f"{where}: {source.size} bytes is too short for a TFLite model")
    data = mmap.mmap(source.fd, 0, access=mmap.ACCESS_READ)
    try:
        walker = _Walker(source, Buffer(data, where))
        walker.walk()
        info = walker.info(source)
    finally:
        data.close()
    return WeightSet(walker.tensors, info)


class _Walker:
    """The tensors and source info of one model, collected subgraph by subgraph."""

    def __init__(self, source: InputFile, buf: Buffer):
        self.source, self.buf, self.where = source, buf, buf.where
        self.tensors: list[Tensor] = []
        self.quantization: dict[str, dict[str, Any]] = {}
        self.skipped: list[dict[str, Any]] = []
        self.declared = 0  # bytes of every constant tensor so far
        self.subgraphs: list[str | None] = []
        self.model = buf.root()

    def walk(self) -> None:
        self.buffers = self.model.tables(MODEL_BUFFERS, "buffers")
        for s, subgraph in enumerate(self.model.tables(MODEL_SUBGRAPHS, "subgraphs")):
            name = subgraph.string(SUBGRAPH_NAME, "name")
            self.subgraphs.append(name)
            prefix = "" if s == 0 else f"{safe_name(name or '') or f'subgraph{s}'}/"
            tensors = subgraph.tables(SUBGRAPH_TENSORS, "tensors")
            raw = [t.string(TENSOR_NAME, "name") or f"tensor{i}" for i, t in enumerate(tensors)]
            repeated = {n for n, c in Counter(raw).items() if c > 1}
            for i, (table, raw_name) in enumerate(zip(tensors, raw, strict=True)):
                label = safe_name(raw_name) or f"tensor{i}"
                label = f"{label}_{i}" if raw_name in repeated else label
                self._tensor(table, prefix + label, raw_name)

    def _tensor(self, table: Table, name: str, raw_name: str) -> None:
        located = self._buffer(table)
        if located is None:
            return  # an activation or input: no stored values
        kind = table.scalar(TENSOR_TYPE, "b", 0, "type")
        if kind not in TYPES:
            self.skipped.append({"name": name, "type": OTHER_TYPES.get(kind, f"type {kind}")})
            return
        if table.table(TENSOR_SPARSITY, "sparsity") is not None:
            raise UnsupportedError(
                f"{self.where}: tensor {raw_name!r} is sparse (TFLite sparsity); reading sparse "
                "TFLite tensors is not supported"
            )
        dtype = by_name(TYPES[kind]).numpy
        shape = tuple(int(d) for d in table.array(TENSOR_SHAPE, "<i4", "shape"))
        label = f"{self.where}: tensor {raw_name!r}"
        nbytes = declared_nbytes(shape, dtype.itemsize, label)
        offset, length = located
        if nbytes != length:
            raise InputError(
                f"{label}: shape {list(shape)} of {dtype.name} needs {nbytes} bytes but its buffer "
                f"holds {length}; the file is damaged"
            )
        self._count(nbytes)
        load = _loader(self.source, offset, dtype, shape, label)
        self.tensors.append(Tensor(name, dtype, shape, load, origin=raw_name))
        self._quantization(table, name, shape, label)

    def _count(self, nbytes: int) -> None:
        self.declared += nbytes
        limit = SHARED_LIMIT_FACTOR * self.buf.size + SHARED_LIMIT_EXTRA
        if self.declared > limit:
            raise InputError(
                f"{self.where}: its tensors share buffers so much that they declare more than "
                f"{limit} bytes, {SHARED_LIMIT_FACTOR}x the file's {self.buf.size} bytes plus "
                f"{SHARED_LIMIT_EXTRA >> 20} MiB; refused as crafted"
            )

    def _buffer(self, table: Table) -> tuple[int, int] | None:
        """(file offset, length) of a tensor's constant data; None when it has none."""
        index = table.scalar(TENSOR_BUFFER, "I", 0, "buffer")
        if index >= len(self.buffers):
            raise InputError(
                f"{self.where}: {table.place} refers to buffer {index} of {len(self.buffers)}; "
                "the file is damaged"
            )
        buffer = self.buffers[index]
        start, count = buffer.vector(BUFFER_DATA, 1, "data")
        if count:
            return start, count
        offset = buffer.scalar(BUFFER_OFFSET, "Q", 0, "offset")
        size = buffer.scalar(BUFFER_SIZE, "Q", 0, "size")
        if offset <= 1:  # 0/1: no data outside the FlatBuffer (schema.fbs)
            return None
        self.buf.check(offset, size, f"{buffer.place} (data at an offset)")
        return offset, size

    def _quantization(self, table: Table, name: str, shape: tuple[int, ...], label: str) -> None:
        quant = table.table(TENSOR_QUANT, "quantization")
        if quant is None:
            return
        scale = quant.array(QUANT_SCALE, "<f4", "scale").astype(np.float32)
        zero_point = quant.array(QUANT_ZERO_POINT, "<i8", "zero_point").astype(np.int64)
        if quant.scalar(QUANT_DETAILS_TYPE, "B", 0, "details_type"):
            raise UnsupportedError(f"{label}: custom quantization details are not supported")
        if not scale.size and not zero_point.size:
            return  # an empty table: the converter writes one for float tensors
        axis = quant.scalar(QUANT_AXIS, "i", 0, "quantized_dimension")
        _check_quantization(scale, zero_point, axis, shape, label)
        self.tensors.append(Tensor.from_array(f"{name}/scale", scale, origin=f"{name} scale"))
        entry: dict[str, Any] = {"axis": axis if scale.size > 1 else None, "scale": f"{name}/scale"}
        entry["zero_point"] = None
        if zero_point.size:
            zp_name = f"{name}/zero_point"
            self.tensors.append(Tensor.from_array(zp_name, zero_point, origin=f"{name} zero point"))
            entry["zero_point"] = zp_name
        self.quantization[name] = entry

    def info(self, source: InputFile) -> ModelInfo:
        extra: dict[str, Any] = {
            "schema_version": self.model.scalar(MODEL_VERSION, "I", 0, "version"),
            "description": self.model.string(MODEL_DESCRIPTION, "description"),
            "subgraphs": self.subgraphs,
        }
        if self.quantization:
            extra["quantization"] = self.quantization
        if self.skipped:
            extra["skipped"] = self.skipped
        info = ModelInfo(
            kind="tflite",
            framework="tflite",
            framework_version=f"schema {extra['schema_version']}",
            model_name=self.subgraphs[0] if self.subgraphs else None,
            file=source.name,
            digest=source.digest(),
            extra=extra,
        )
        if self.skipped:
            shown = ", ".join(f"{s['name']} ({s['type']})" for s in self.skipped[:3])
            more = " ..." if len(self.skipped) > 3 else ""
            info.warn(
                Note(
                    "tflite-skipped",
                    f"{len(self.skipped)} constant tensor(s) are not numbers and are not exported: "
                    f"{shown}{more} (see source info 'skipped')",
                )
            )
        return info


def _check_quantization(scale, zero_point, axis: int, shape: tuple[int, ...], label: str) -> None:
    """A scale per channel of the quantized axis (or one), a zero point per scale (or none)."""
    if zero_point.size and zero_point.size != scale.size:
        raise InputError(
            f"{label}: {scale.size} scale(s) but {zero_point.size} zero point(s); the file is damaged"
        )
    if scale.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scale.size):
        raise InputError(
            f"{label}: {scale.size} scales do not match quantized axis {axis} of shape "
            f"{list(shape)}; the file is damaged"
        )


def _loader(source: InputFile, offset: int, dtype: np.dtype, shape: tuple[int, ...], label: str):
    def load() -> np.ndarray:
        if dtype == np.bool_:
            stored = file_array(source.fd, offset, np.uint8, shape, label)
            if stored.size and stored.max() > 1:
                raise InputError(f"{label}: a bool tensor holds bytes other than 0 and 1")
            return stored.view(np.bool_)
        return file_array(source.fd, offset, dtype, shape, label)

    return load


READERS.register("tflite", Reader("tflite", _is_tflite, read_tflite, "TFLite model (.tflite)"))
