"""Hostile `.tflite` files and quantized ONNX (issue 18): FlatBuffers whose offsets, vtables, lengths, buffer
indices, shapes or quantization parameters lie. Each must be refused with one line, exit 3.

The files are written with the `flatbuffers` Builder following TensorFlow's schema.fbs (no
TensorFlow needed): `tflite_model()` makes a small valid model, the cases damage it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import flatbuffers
import numpy as np
from hostile_corpus import Case

FLOAT32, INT8, BOOL = 0, 9, 6


@dataclass
class Spec:
    """One tensor of a hand-made model."""

    name: str
    type: int
    shape: list[int]
    buffer: int  # index into the model's buffers (0: the empty sentinel)
    scale: list[float] = field(default_factory=list)
    zero_point: list[int] = field(default_factory=list)
    axis: int = 0
    sparse: bool = False


KERNEL = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
QKERNEL = np.array([[-127, 0, 5], [3, 127, -1]], np.int8)


def default_specs() -> list[Spec]:
    return [
        Spec("input", FLOAT32, [1, 3], 0),
        Spec("dense/kernel", FLOAT32, [2, 3], 1),
        Spec("dense/qkernel", INT8, [2, 3], 2, [0.5, 0.25], [0, 1], axis=0),
    ]


def default_buffers() -> list[bytes | tuple[int, int]]:
    """Buffer contents: bytes stored inline, or (offset, size) of data outside the FlatBuffer."""
    return [b"", KERNEL.tobytes(), QKERNEL.tobytes()]


def tflite_model(specs: list[Spec] | None = None, buffers=None, more=()) -> bytes:
    """A TFLite FlatBuffer (schema version 3, file identifier TFL3): subgraph "main" of specs,
    then the (name, specs) subgraphs in more (control-flow bodies)."""
    specs = default_specs() if specs is None else specs
    buffers = default_buffers() if buffers is None else buffers
    b = flatbuffers.Builder(0)
    buffer_tables = [_buffer(b, item) for item in buffers]
    subgraphs = _tables(b, [_subgraph(b, n, s) for n, s in [("main", specs), *more]])
    buffer_vector, description = _tables(b, buffer_tables), b.CreateString("hand made")
    b.StartObject(8)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(3, description, 0)
    b.PrependUOffsetTRelativeSlot(4, buffer_vector, 0)
    b.Finish(b.EndObject(), file_identifier=b"TFL3")
    return bytes(b.Output())


def _subgraph(b: flatbuffers.Builder, name: str | None, specs: list[Spec]) -> int:
    tensor_vector = _tables(b, [_tensor(b, spec) for spec in specs])
    name_offset = b.CreateString(name) if name else None
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensor_vector, 0)
    if name_offset is not None:
        b.PrependUOffsetTRelativeSlot(4, name_offset, 0)
    return b.EndObject()


def _tables(b: flatbuffers.Builder, tables: list[int]) -> int:
    b.StartVector(4, len(tables), 4)
    for table in reversed(tables):
        b.PrependUOffsetTRelative(table)
    return b.EndVector()


def _buffer(b: flatbuffers.Builder, item) -> int:
    data = b.CreateNumpyVector(np.frombuffer(item, np.uint8)) if isinstance(item, bytes) else None
    b.StartObject(3)
    if data is not None and item:
        b.PrependUOffsetTRelativeSlot(0, data, 0)
    if isinstance(item, tuple):
        b.PrependUint64Slot(1, item[0], 0)
        b.PrependUint64Slot(2, item[1], 0)
    return b.EndObject()


def _tensor(b: flatbuffers.Builder, spec: Spec) -> int:
    shape = b.CreateNumpyVector(np.array(spec.shape, np.int32))
    name = b.CreateString(spec.name)
    quant = _quantization(b, spec) if spec.scale or spec.zero_point else None
    sparsity = None
    if spec.sparse:
        b.StartObject(3)
        sparsity = b.EndObject()
    b.StartObject(10)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependInt8Slot(1, spec.type, 0)
    b.PrependUint32Slot(2, spec.buffer, 0)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    if quant is not None:
        b.PrependUOffsetTRelativeSlot(4, quant, 0)
    if sparsity is not None:
        b.PrependUOffsetTRelativeSlot(6, sparsity, 0)
    return b.EndObject()


def _quantization(b: flatbuffers.Builder, spec: Spec) -> int:
    scale = b.CreateNumpyVector(np.array(spec.scale, np.float32))
    zero_point = b.CreateNumpyVector(np.array(spec.zero_point, np.int64))
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(2, scale, 0)
    b.PrependUOffsetTRelativeSlot(3, zero_point, 0)
    b.PrependInt32Slot(6, spec.axis, 0)
    return b.EndObject()


# ---------------------------------------------------------------- cases


def _write(data: bytes, name: str = "model.tflite"):
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return build


def _patched(offset_of, value: bytes):
    """The default model with value written at offset_of(model bytes)."""
    data = bytearray(tflite_model())
    at = offset_of(bytes(data))
    data[at : at + len(value)] = value
    return _write(bytes(data))


def _string_length(text: str):
    return lambda data: data.index(struct.pack("<I", len(text)) + text.encode())


def _root_table(data: bytes) -> int:
    return struct.unpack_from("<I", data, 0)[0]


def _root_vtable(data: bytes) -> int:
    root = _root_table(data)
    return root - struct.unpack_from("<i", data, root)[0]


def _one(spec: Spec, buffers=None):
    specs = [Spec("input", FLOAT32, [1, 3], 0), spec]
    return _write(tflite_model(specs, buffers or [b"", KERNEL.tobytes()]))


def _shared_buffer(folder: Path) -> Path:
    """100 tensors naming one 1 MiB buffer: 100 MiB declared by a 1 MiB file."""
    specs = [Spec(f"w{i}", INT8, [1 << 20], 1) for i in range(100)]
    return _write(tflite_model(specs, [b"", bytes(1 << 20)]))(folder)


def _onnx_quant_mismatch(folder: Path) -> Path:
    """A DequantizeLinear whose 5 per-axis scales do not match axis 0 (4) of its int8 weight."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    stored = [
        numpy_helper.from_array(np.zeros((4, 6), np.int8), "w"),
        numpy_helper.from_array(np.ones(5, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(5, np.int8), "w_zp"),
    ]
    node = helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zp"], ["y"], axis=0)
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])
    graph = helper.make_graph([node], "g", [], [output], stored)
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), folder / "q.onnx"
    )
    return folder / "q.onnx"


DAMAGED = r"damaged|outside the file|not a TFLite model"
CASES: list[Case] = [
    Case("tflite-truncated", _write(tflite_model()[:60]), 3, DAMAGED),
    Case("tflite-only-header", _write(tflite_model()[:8]), 3, DAMAGED),
    Case("tflite-root-past-end", _patched(lambda d: 0, struct.pack("<I", 1 << 30)), 3, DAMAGED),
    Case(
        "tflite-vtable-outside",
        _patched(_root_table, struct.pack("<i", -(1 << 20))),
        3,
        r"vtable.*outside the file",
    ),
    Case(
        "tflite-vtable-before-start",
        _patched(_root_table, struct.pack("<i", 1 << 20)),
        3,
        r"vtable.*outside the file",
    ),
    Case(
        "tflite-vtable-odd-size",
        _patched(_root_vtable, struct.pack("<H", 5)),
        3,
        r"malformed vtable",
    ),
    Case(
        "tflite-string-length-past-end",
        _patched(_string_length("dense/kernel"), struct.pack("<I", 0x7FFFFFFF)),
        3,
        r"name.*outside the file",
    ),
    Case(
        "tflite-name-not-utf8",
        _patched(lambda d: d.index(b"dense/kernel"), b"\xff\xfe"),
        3,
        r"not valid UTF-8",
    ),
    Case(
        "tflite-buffer-index-out-of-range",
        _one(Spec("w", FLOAT32, [2, 3], 7)),
        3,
        r"refers to buffer 7 of 2",
    ),
    Case(
        "tflite-offset-buffer-past-end",
        _one(Spec("w", FLOAT32, [2, 3], 1), [b"", (1 << 40, 24)]),
        3,
        r"outside the file",
    ),
    Case(
        "tflite-absurd-shape",
        _one(Spec("w", FLOAT32, [2**31 - 1] * 4, 1)),
        3,
        r"more elements than any array can hold",
    ),
    Case("tflite-negative-dimension", _one(Spec("w", FLOAT32, [-1, 6], 1)), 3, r"negative"),
    Case(
        "tflite-shape-bigger-than-buffer",
        _one(Spec("w", FLOAT32, [1000, 1000], 1)),
        3,
        r"needs 4000000 bytes but its buffer holds 24",
    ),
    Case(
        "tflite-scales-disagree-with-axis",
        _one(Spec("w", INT8, [4, 6], 1, [0.1] * 3, [0] * 3, axis=0)),
        3,
        r"3 scales do not match quantized axis 0",
    ),
    Case(
        "tflite-quantized-axis-out-of-range",
        _one(Spec("w", INT8, [4, 6], 1, [0.1] * 4, [0] * 4, axis=5)),
        3,
        r"do not match quantized axis 5",
    ),
    Case(
        "tflite-zero-points-disagree-with-scales",
        _one(Spec("w", INT8, [4, 6], 1, [0.1] * 4, [0] * 2, axis=0)),
        3,
        r"4 scale\(s\) but 2 zero point\(s\)",
    ),
    Case("tflite-sparse", _one(Spec("w", FLOAT32, [2, 3], 1, sparse=True)), 3, r"is sparse"),
    Case(
        "tflite-bool-not-0-or-1",
        _one(Spec("w", BOOL, [4], 1), [b"", b"\x00\x01\x02\x01"]),
        3,
        r"bool tensor holds bytes other than 0 and 1",
    ),
    Case(
        "tflite-one-buffer-shared-by-many-tensors",
        _shared_buffer,
        3,
        r"share buffers so much",
    ),
    Case(
        "onnx-quant-scales-disagree-with-axis",
        _onnx_quant_mismatch,
        3,
        r"shape \[5\] do not match axis 0 of the weight's shape \[4, 6\]",
    ),
]
