"""Quantized ONNX (issue 18): integer weights linked to their scales and zero points.

The models are quantized by onnxruntime's own tools (quantize_dynamic, quantize_static in QDQ and
QOperator formats, per-tensor and per-channel, calibration data seeded). Every stored 8-bit
weight must be linked, the linked parameters must be the tensors onnxruntime stored, and
dequantizing with them, (q - zero_point) * scale along the linked axis, must give back the float
weight within half a quantization step: a wrong link, axis or parameter fails that.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import exporter
from exporter.core.errors import InputError

RNG = np.random.default_rng(7)
CONV_W = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
CONV_B = RNG.normal(size=4).astype(np.float32)
DENSE_W = RNG.normal(size=(64, 5)).astype(np.float32) * np.linspace(0.1, 3, 5, dtype=np.float32)
FLOATS = {"conv_w": CONV_W, "dense_w": DENSE_W}


def _float_model(path):
    inits = [
        numpy_helper.from_array(CONV_W, "conv_w"),
        numpy_helper.from_array(CONV_B, "conv_b"),
        numpy_helper.from_array(DENSE_W, "dense_w"),
        numpy_helper.from_array(np.array([1, 64], np.int64), "shape"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "dense_w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


class _Calibration:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.batches = iter([{"x": rng.normal(size=(1, 3, 6, 6)).astype(np.float32)}] * 8)

    def get_next(self):
        return next(self.batches, None)


def _quantize(folder, how: str, per_channel: bool):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    source = _float_model(folder / "float.onnx")
    out = folder / f"{how}_{per_channel}.onnx"
    if how == "dynamic":
        quantize_dynamic(source, out, per_channel=per_channel, weight_type=QuantType.QInt8)
    else:
        fmt = QuantFormat.QDQ if how == "qdq" else QuantFormat.QOperator
        quantize_static(source, out, _Calibration(), quant_format=fmt, per_channel=per_channel)
    return out


def _dequantize(q, scale, zero_point, axis):
    q, scale = q.astype(np.float32), scale.astype(np.float32)
    zero_point = zero_point.astype(np.float32)
    if axis is not None:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    return (q - zero_point) * scale, scale


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("how", ["dynamic", "qdq", "qoperator"])
def test_weights_linked_to_their_parameters(tmp_path, how, per_channel):
    path = _quantize(tmp_path, how, per_channel)
    model = onnx.load(path)
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    ws = exporter.load(path)
    links = ws.info.extra["quantization"]
    eight_bit = {n for n, a in stored.items() if a.dtype in (np.int8, np.uint8) and a.ndim >= 2}
    assert eight_bit and eight_bit <= set(links), (eight_bit, links)
    for name, link in links.items():
        q = ws[name].read()
        assert np.array_equal(q, stored[name])
        if link["zero_point"]:
            assert np.array_equal(ws[link["zero_point"]].read(), stored[link["zero_point"]])
        assert link["scale"], link  # ConvInteger/MatMulInteger: found after them (Mul)
        scale = ws[link["scale"]].read()
        assert np.array_equal(scale, stored[link["scale"]])
        original = next((f for k, f in FLOATS.items() if name.startswith(k)), None)
        if original is None:
            continue  # a bias (int32) or activation parameter
        zero_point = ws[link["zero_point"]].read() if link["zero_point"] else np.zeros(1)
        values, scales = _dequantize(q, scale, zero_point, link["axis"])
        assert np.all(np.abs(values - original) <= scales / 2 * 1.0001 + 1e-7), name
        if per_channel and scale.size > 1:
            assert link["axis"] == (0 if name.startswith("conv") else 1)


def test_scales_that_disagree_with_the_axis_are_refused(tmp_path):
    q = numpy_helper.from_array(np.zeros((4, 6), np.int8), "w")
    scale = numpy_helper.from_array(np.ones(5, np.float32), "w_scale")
    zp = numpy_helper.from_array(np.zeros(5, np.int8), "w_zp")
    node = helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zp"], ["y"], axis=0)
    graph = helper.make_graph(
        [node],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])],
        [q, scale, zp],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(InputError, match=r"do not match axis 0 of the weight's shape \[4, 6\]"):
        exporter.load(tmp_path / "bad.onnx")


def test_a_cast_without_outputs_after_an_integer_op_is_not_a_crash(tmp_path):
    """Red-team case: MatMulInteger -> Cast with no output names used to raise IndexError."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import exporter

    weight = numpy_helper.from_array(np.ones((4, 3), np.uint8), "w")
    zero = numpy_helper.from_array(np.zeros(3, np.uint8), "w_zp")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["x", "w", "", "w_zp"], ["m"]),
         helper.make_node("Cast", ["m"], [], to=1)],
        "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 4])],
        [helper.make_tensor_value_info("m", TensorProto.INT32, [1, 3])], [weight, zero],
    )  # fmt: skip
    path = tmp_path / "q.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    ws = exporter.load(path)
    assert ws["w"].read().tobytes() == np.ones((4, 3), np.uint8).tobytes()
