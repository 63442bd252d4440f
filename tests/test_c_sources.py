"""The C export's sources (issue 19): test vectors from scikit-learn and ONNX models, and the
int8 weights of a quantized ONNX model with their scales and zero points as arrays of their own."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import exporter
from exporter.formats import c_parse


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def c_array(path: Path, ident: str) -> tuple[str, np.ndarray]:
    """(C type, values) of one array of a C export, parsed as the reader parses tensors."""
    text = path.read_bytes()
    match = re.search(rb"_ARRAY\(" + ident.encode() + rb", (\w+), (\d+), \d+\) = \{\n", text)
    body = text[match.end() : text.index(b"}", match.end())]
    ctype = match.group(1).decode()
    return ctype, c_parse.parse_body(body, ctype, int(match.group(2)), ident)


def test_test_vectors_of_a_scikit_learn_model(tmp_path, cli):
    import skops.io as sio
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    model = LinearRegression().fit(rng.normal(size=(20, 4)), rng.normal(size=20))
    sio.dump(model, tmp_path / "m.skops")
    result = cli("export", tmp_path / "m.skops", "-o", tmp_path / "m.h", "--test-vectors", "5")
    assert result.exit_code == 0, result
    _, inputs = c_array(tmp_path / "m.h", "m_test_inputs")
    ctype, outputs = c_array(tmp_path / "m.h", "m_test_outputs")
    assert inputs.dtype == np.float32 and inputs.size == 20 and ctype == "double"
    assert outputs.tobytes() == model.predict(inputs.reshape(5, 4)).tobytes()
    assert "#define M_TEST_COUNT 5" in (tmp_path / "m.h").read_text()
    back = exporter.load(tmp_path / "m.h")
    assert back.names() == exporter.load(tmp_path / "m.skops").names()  # vectors: not tensors


def test_test_vectors_of_an_onnx_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(6, dtype=np.float32).reshape(2, 3) / 5
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(weight, "W")],
    )
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    exporter.export(tmp_path / "m.onnx", tmp_path / "m.h", test_vectors=4)
    _, inputs = c_array(tmp_path / "m.h", "m_test_inputs")
    _, outputs = c_array(tmp_path / "m.h", "m_test_outputs")
    expected = inputs.reshape(4, 2) @ weight
    np.testing.assert_allclose(outputs.reshape(4, 3), expected, rtol=1e-6)
    with pytest.raises(exporter.UsageError, match="between 1 and"):
        exporter.export(tmp_path / "m.onnx", tmp_path / "n.h", test_vectors=-1)


def test_a_quantized_onnx_model_gives_int8_weights_with_their_scales_and_zero_points(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.array([[-128, 5, 127], [0, -7, 64]], np.int8)
    initializers = [
        numpy_helper.from_array(weight, "W_quantized"),
        numpy_helper.from_array(np.array(0.02, np.float32), "W_scale"),
        numpy_helper.from_array(np.array(-3, np.int8), "W_zero_point"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["W_quantized", "W_scale", "W_zero_point"], ["W"]),
            helper.make_node("MatMul", ["x", "W"], ["y"]),
        ],
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        initializers,
    )
    onnx.save(helper.make_model(graph), tmp_path / "q.onnx")
    exporter.export(tmp_path / "q.onnx", tmp_path / "q.h")
    text = (tmp_path / "q.h").read_text()
    assert "Q_ARRAY(q_W_quantized, int8_t, 6, 16)" in text
    assert "Q_ARRAY(q_W_scale, float, 1, 16)" in text
    assert "Q_ARRAY(q_W_zero_point, int8_t, 1, 16)" in text
    assert same_bits(c_array(tmp_path / "q.h", "q_W_quantized")[1], weight.reshape(-1))
    assert exporter.validate(tmp_path / "q.h").ok
