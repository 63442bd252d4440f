"""TFLite reading on hand-made FlatBuffers (no TensorFlow): values, quantization parameters, the
data-at-an-offset layout, names, detection, and fuzzed files that must fail cleanly."""

from __future__ import annotations

import signal
import struct
from contextlib import contextmanager

import numpy as np
import pytest
from hostile_tflite import FLOAT32, INT8, KERNEL, QKERNEL, Spec, default_specs, tflite_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exporter
from exporter.core.errors import ExporterError
from exporter.readers import recognise


def test_constants_with_their_scales_and_zero_points(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_model())
    ws = exporter.load(path)
    assert ws.names() == [
        "dense/kernel",
        "dense/qkernel",
        "dense/qkernel/scale",
        "dense/qkernel/zero_point",
    ]  # the input (buffer 0, no data) is not a parameter
    arrays = ws.arrays()
    assert arrays["dense/kernel"].tobytes() == KERNEL.tobytes()
    assert arrays["dense/qkernel"].dtype == np.int8
    assert np.array_equal(arrays["dense/qkernel"], QKERNEL)
    assert arrays["dense/qkernel/scale"].dtype == np.float32
    assert arrays["dense/qkernel/scale"].tolist() == [0.5, 0.25]
    assert arrays["dense/qkernel/zero_point"].dtype == np.int64
    assert arrays["dense/qkernel/zero_point"].tolist() == [0, 1]
    assert ws.info.kind == "tflite"
    assert ws.info.extra["quantization"] == {
        "dense/qkernel": {
            "axis": 0,
            "scale": "dense/qkernel/scale",
            "zero_point": "dense/qkernel/zero_point",
        }
    }


def test_per_tensor_quantization_has_no_axis(tmp_path):
    specs = [Spec("q", INT8, [2, 3], 1, [0.125], [-3], axis=0)]
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_model(specs, [b"", QKERNEL.tobytes()]))
    ws = exporter.load(path)
    assert ws.info.extra["quantization"]["q"]["axis"] is None
    assert ws["q/zero_point"].read().tolist() == [-3]


def test_data_stored_at_an_offset_after_the_flatbuffer(tmp_path):
    """The >2 GB layout: Buffer.offset/size point past the FlatBuffer, read from the file."""
    specs = [Spec("big", FLOAT32, [2, 3], 1)]
    length = len(tflite_model(specs, [b"", (2, KERNEL.nbytes)]))
    offset = (length + 63) // 64 * 64
    model = tflite_model(specs, [b"", (offset, KERNEL.nbytes)])
    assert len(model) == length
    path = tmp_path / "m.tflite"
    path.write_bytes(model + b"\0" * (offset - length) + KERNEL.tobytes())
    assert exporter.load(path)["big"].read().tobytes() == KERNEL.tobytes()


def test_unsafe_and_repeated_names(tmp_path):
    specs = [
        Spec("/a//b", FLOAT32, [2, 3], 1),
        Spec("same", FLOAT32, [2, 3], 1),
        Spec("same", FLOAT32, [2, 3], 1),
        Spec("", FLOAT32, [2, 3], 1),
    ]
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_model(specs, [b"", KERNEL.tobytes()]))
    ws = exporter.load(path)
    assert ws.names() == ["a/b", "same_1", "same_2", "tensor3"]
    assert ws["a/b"].origin == "/a//b"


def test_subgraphs_are_prefixed(tmp_path):
    body = [Spec("w", FLOAT32, [2, 3], 1), Spec("x", FLOAT32, [1], 0)]
    more = [("while_body", body), (None, [Spec("w", INT8, [2, 3], 2, [0.5], [0])])]
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_model(more=more))
    ws = exporter.load(path)
    assert ws.names()[-4:] == [
        "while_body/w",
        "subgraph2/w",
        "subgraph2/w/scale",
        "subgraph2/w/zero_point",
    ]
    assert ws.info.extra["subgraphs"] == ["main", "while_body", None]
    assert ws["subgraph2/w"].read().tobytes() == QKERNEL.tobytes()


def test_strings_are_skipped_with_a_warning(tmp_path):
    specs = [*default_specs(), Spec("vocab", 5, [1], 1)]
    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_model(specs))
    ws = exporter.load(path)
    assert "vocab" not in ws
    assert ws.info.extra["skipped"] == [{"name": "vocab", "type": "STRING"}]
    assert any("not numbers" in w for w in ws.info.warnings)


def test_recognised_by_identifier_not_extension(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(tflite_model())
    assert recognise(path).kind == "tflite"
    other = tmp_path / "x.tflite"
    other.write_bytes(b"\x10\x00\x00\x00NOPE" + bytes(32))
    assert recognise(other) is None or recognise(other).kind != "tflite"


@contextmanager
def alarm(seconds: int):
    def timeout(signum, frame):
        raise TimeoutError("hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


SEED = tflite_model()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=6),
    st.integers(8, len(SEED)),
)
def test_mutated_files_fail_cleanly(tmp_path, flips, keep):
    data = bytearray(SEED[:keep])
    for at, value in flips:
        if at < len(data) and not 4 <= at < 8:  # keep the identifier: reach the reader
            data[at] = value
    path = tmp_path / "fuzz.tflite"
    path.write_bytes(bytes(data))
    with alarm(10):
        try:
            ws = exporter.load(path)
            for tensor in ws:
                tensor.read()
        except ExporterError:
            pass


@pytest.mark.parametrize("value", [0xFFFFFFFF, 0x7FFFFFFF, 0x80000000])
def test_every_root_offset_word_fails_cleanly(tmp_path, value):
    data = bytearray(SEED)
    struct.pack_into("<I", data, 0, value)
    path = tmp_path / "m.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(ExporterError, match="outside the file"):
        exporter.load(path)
