"""Quantized ONNX: link each stored integer weight to its scale and zero-point tensors.

Names stay the initializer names; the links go to the source info under `quantization`, the same
field the TFLite reader writes: `{weight: {"axis": int or null, "scale": name or null,
"zero_point": name or null, "op": op_type}}`. `axis` is null for per-tensor parameters (one
scale), else the weight's dimension the scales run along, checked against the weight's shape.

Which input is which (onnx.ai operator docs):

| op | weight -> (scale, zero point) | axis when per-channel |
|---|---|---|
| DequantizeLinear | x -> (x_scale, x_zero_point) | attribute `axis` (default 1) |
| QLinearConv | w -> (w_scale, w_zero_point) | 0 (output channels) |
| QLinearMatMul | a -> (a_scale, a_zero_point), b -> (b_scale, b_zero_point) | last dim of b |
| ConvInteger | w -> (see below, w_zero_point) | 0 |
| MatMulInteger | A -> (see below, a_zero_point), B -> (see below, b_zero_point) | last dim of B |

ConvInteger/MatMulInteger carry no scale: it is applied by the ops after them. onnxruntime's
quantize_dynamic pattern (output -> Cast -> Mul by DynamicQuantizeLinear's scale times the
weight's stored scale) is followed to that stored scale; for any other pattern only the zero
point is linked. DynamicQuantizeLinear computes its scale and zero point when the
model runs: nothing stored to link. Only the top-level graph is linked; a link is made only when
the weight is stored in the graph (an initializer or a Constant) and so are the parameters.
"""

from __future__ import annotations

import math
from typing import Any

from exporter.core.errors import InputError
from exporter.models.onnx.values import safe_name

# op -> list of (weight input, scale input or None, zero point input, per-channel axis rule)
_LINKS: dict[str, list[tuple[int, int | None, int, str]]] = {
    "DequantizeLinear": [(0, 1, 2, "attribute")],
    "QLinearConv": [(3, 4, 5, "first")],
    "QLinearMatMul": [(0, 1, 2, "last"), (3, 4, 5, "last")],
    "ConvInteger": [(1, None, 3, "first")],
    "MatMulInteger": [(0, None, 2, "last"), (1, None, 3, "last")],
}


def link_quantization(graph, where: str) -> dict[str, dict[str, Any]]:
    """The quantization links of a GraphProto's stored weights, by canonical tensor name."""
    stored = _stored_shapes(graph)
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    links: dict[str, dict[str, Any]] = {}
    for node in graph.node:
        if node.domain not in ("", "ai.onnx", "com.microsoft") or node.op_type not in _LINKS:
            continue
        inputs = list(node.input)
        for weight, scale, zero_point, rule in _LINKS[node.op_type]:
            name = _input(inputs, weight)
            if name not in stored or safe_name(name) in links:
                continue
            scale_name, zp_name = _input(inputs, scale), _input(inputs, zero_point)
            if scale is None:
                scale_name = _dynamic_scale(node, stored, producers, consumers)
            params = [n for n in (scale_name, zp_name) if n in stored]
            if not params:
                continue
            axis = _axis(node, rule, stored[name], stored[params[0]], f"{where}: {name!r}")
            links[safe_name(name)] = {
                "axis": axis,
                "scale": safe_name(scale_name) if scale_name in stored else None,
                "zero_point": safe_name(zp_name) if zp_name in stored else None,
                "op": node.op_type,
            }
    return links


def _dynamic_scale(node, stored, producers, consumers) -> str | None:
    """The weight's scale of a ConvInteger/MatMulInteger as onnxruntime's quantize_dynamic
    writes it: output -> Cast -> Mul(., Mul(DynamicQuantizeLinear scale, weight scale)). The
    stored factor of that inner Mul, when the other factor is the DynamicQuantizeLinear scale;
    None for any other pattern (then only the zero point is linked)."""
    users = consumers.get(node.output[0], []) if node.output else []
    if len(users) == 1 and users[0].op_type == "Cast":
        users = consumers.get(users[0].output[0], []) if users[0].output else []
    if len(users) != 1 or users[0].op_type != "Mul":
        return None
    for factor in users[0].input:
        inner = producers.get(factor)
        if inner is None or inner.op_type != "Mul":
            continue
        kept = [n for n in inner.input if n in stored]
        dynamic = [n for n in inner.input if _is_dynamic_scale(producers.get(n), n)]
        if len(kept) == 1 and len(dynamic) == 1 and len(inner.input) == 2:
            return kept[0]
    return None


def _is_dynamic_scale(producer, name: str) -> bool:
    return (
        producer is not None
        and producer.op_type == "DynamicQuantizeLinear"
        and list(producer.output)[1:2] == [name]
    )


def _input(inputs: list[str], index: int | None) -> str | None:
    if index is None or index >= len(inputs) or not inputs[index]:
        return None
    return inputs[index]


def _stored_shapes(graph) -> dict[str, tuple[int, ...]]:
    """Shapes of the tensors the graph stores: initializers and Constant `value` outputs."""
    shapes = {t.name: tuple(int(d) for d in t.dims) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value" and attr.type == 4:
                    shapes[node.output[0]] = tuple(int(d) for d in attr.t.dims)
    return shapes


def _axis(node, rule: str, weight: tuple[int, ...], param: tuple[int, ...], label: str):
    """The per-channel axis (None for per-tensor parameters: one value), checked against the
    weight. Blocked parameters (opset 21 `block_size`: the weight's rank) keep the attribute."""
    if math.prod(param) == 1:
        return None
    if rule == "attribute":
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    else:
        axis = 0 if rule == "first" else len(weight) - 1
    axis = axis + len(weight) if axis < 0 else axis
    blocked = len(param) == len(weight) > 1 and rule == "attribute"
    if not 0 <= axis < len(weight) or (not blocked and param != (weight[axis],)):
        raise InputError(
            f"{label}: {node.op_type} quantization parameters of shape {list(param)} do not "
            f"match axis {axis} of the weight's shape {list(weight)}; the model is damaged"
        )
    return axis
