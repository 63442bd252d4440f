"""Small ONNX graphs built with onnx.helper for the ONNX reader's tests.

Each builder returns a ModelProto (checked with onnx.checker) and, where the test needs it, the
values the reader must give back.
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
F = TensorProto.FLOAT


def model(graph, *, opsets=OPSET, functions=(), check: bool = True, **kw) -> onnx.ModelProto:
    """A ModelProto around graph, checked by onnx.checker."""
    built = helper.make_model(
        graph, opset_imports=opsets, functions=list(functions), producer_name="tests", **kw
    )
    built.ir_version = 9
    if check:
        onnx.checker.check_model(built)
    return built


def identity_graph(initializers, name: str = "g", nodes=(), sparse=()) -> onnx.GraphProto:
    """A graph that returns its first initializer (so the initializers are used), plus nodes."""
    first = initializers[0] if initializers else None
    out_type = first.data_type if first is not None else F
    shape = list(first.dims) if first is not None else [1]
    nodes = [*nodes, helper.make_node("Identity", [first.name if first else "x"], ["y"])]
    inputs = [] if first is not None else [helper.make_tensor_value_info("x", F, shape)]
    return helper.make_graph(
        nodes,
        name,
        inputs,
        [helper.make_tensor_value_info("y", out_type, shape)],
        initializer=list(initializers),
        sparse_initializer=list(sparse),
    )


def encodings() -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict[str, str]]:
    """Initializers in each storage encoding; expected arrays; the proto field each one uses."""
    rng = np.random.default_rng(0)
    f32 = rng.normal(size=(3, 4)).astype(np.float32)
    f16 = np.array([1.5, -2.25, 65504.0, np.inf], np.float16)
    bf16 = np.array([[1.0, -3.5], [0.0078125, -np.inf]], ml_dtypes.bfloat16)
    i64 = np.array([-(2**62), 0, 7], np.int64)
    f64 = np.array([np.pi, -1e-300, np.nan], np.float64)
    flags = np.array([True, False, True])
    u8 = np.array([[0, 255], [7, 128]], np.uint8)
    expected = {
        "f32_raw": f32,
        "f32_typed": f32 * 2,
        "f16": f16,
        "bf16": bf16,
        "i64": i64,
        "f64": f64,
        "flags": flags,
        "u8": u8,
        "scalar": np.array(3.25, np.float32),
        "empty": np.zeros((0, 3), np.float32),
    }
    tensors = [
        numpy_helper.from_array(f32, "f32_raw"),
        helper.make_tensor("f32_typed", F, f32.shape, (f32 * 2).ravel().tolist()),
        helper.make_tensor("f16", TensorProto.FLOAT16, f16.shape, f16.tolist()),
        helper.make_tensor(
            "bf16", TensorProto.BFLOAT16, bf16.shape, bf16.astype(np.float32).ravel().tolist()
        ),
        helper.make_tensor("i64", TensorProto.INT64, i64.shape, i64.tolist()),
        helper.make_tensor("f64", TensorProto.DOUBLE, f64.shape, f64.tolist()),
        helper.make_tensor("flags", TensorProto.BOOL, flags.shape, flags.tolist()),
        helper.make_tensor("u8", TensorProto.UINT8, u8.shape, u8.ravel().tolist()),
        helper.make_tensor("scalar", F, [], [3.25]),
        helper.make_tensor("empty", F, [0, 3], []),
    ]
    fields = {t.name: _stored_field(t) for t in tensors}
    return model(identity_graph(tensors)), expected, fields


def _stored_field(tensor: TensorProto) -> str:
    if tensor.HasField("raw_data"):
        return "raw_data"
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        if len(getattr(tensor, field)):
            return field
    return "none"


def sparse_model() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """One sparse initializer with linear indices and one Constant sparse_value with coordinates."""
    values = numpy_helper.from_array(np.array([1.5, -2.0, 4.0], np.float32), "S")
    indices = numpy_helper.from_array(np.array([1, 5, 11], np.int64), "S_indices")
    sparse = helper.make_sparse_tensor(values, indices, [3, 4])
    c_values = numpy_helper.from_array(np.array([7, 9], np.int64), "cs")
    c_indices = numpy_helper.from_array(np.array([[0, 1], [2, 0]], np.int64), "cs_idx")
    const = helper.make_node(
        "Constant", [], ["cs"], sparse_value=helper.make_sparse_tensor(c_values, c_indices, [3, 2])
    )
    graph = helper.make_graph(
        [const, helper.make_node("Identity", ["S"], ["y"])],
        "sparse",
        [],
        [
            helper.make_tensor_value_info("y", F, [3, 4]),
            helper.make_tensor_value_info("cs", TensorProto.INT64, [3, 2]),
        ],
        sparse_initializer=[sparse],
    )
    expected = {
        "S/values": np.array([1.5, -2.0, 4.0], np.float32),
        "S/indices": np.array([1, 5, 11], np.int64),
        "cs/values": np.array([7, 9], np.int64),
        "cs/indices": np.array([[0, 1], [2, 0]], np.int64),
    }
    return model(graph), expected


def constants_model() -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict[str, dict]]:
    """A Constant node for each attribute kind; expected tensors and expected strings."""
    tensor = np.arange(6, dtype=np.float32).reshape(2, 3)
    specs = {
        "c_value": {"value": numpy_helper.from_array(tensor)},
        "c_float": {"value_float": 0.1},
        "c_floats": {"value_floats": [0.5, -1.25]},
        "c_int": {"value_int": -7},
        "c_ints": {"value_ints": [1, 2, 3]},
        "c_string": {"value_string": "héllo"},
        "c_strings": {"value_strings": ["a", "b"]},
        "c_string_tensor": {
            "value": helper.make_tensor("t", TensorProto.STRING, [2], [b"x", b"y"])
        },
    }
    nodes = [helper.make_node("Constant", [], [name], **attrs) for name, attrs in specs.items()]
    outputs = [helper.make_tensor_value_info(name, F, None) for name in specs]
    graph = helper.make_graph(nodes, "constants", [], outputs)
    expected = {
        "c_value": tensor,
        "c_float": np.array(0.1, np.float32),
        "c_floats": np.array([0.5, -1.25], np.float32),
        "c_int": np.array(-7, np.int64),
        "c_ints": np.array([1, 2, 3], np.int64),
    }
    strings = {
        "c_string": {"shape": [], "values": ["héllo"]},
        "c_strings": {"shape": [2], "values": ["a", "b"]},
        "c_string_tensor": {"shape": [2], "values": ["x", "y"]},
    }
    return model(graph, check=False), expected, strings


def _branch(name: str, value: float, with_constant: bool = False) -> onnx.GraphProto:
    init = numpy_helper.from_array(np.full((2,), value, np.float32), "W")
    nodes = [helper.make_node("Add", ["x", "W"], [f"{name}_out"])]
    if with_constant:
        nodes.insert(0, helper.make_node("Constant", [], ["k"], value_float=value * 10))
    return helper.make_graph(
        nodes, name, [], [helper.make_tensor_value_info(f"{name}_out", F, [2])], initializer=[init]
    )


def control_flow_model() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """If (then/else), Loop with an If nested in its body, Scan; each subgraph has its own W."""
    x = helper.make_tensor_value_info("x", F, [2])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    if_node = helper.make_node(
        "If",
        ["cond"],
        ["if_out"],
        name="if_node",
        then_branch=_branch("then", 1.0, with_constant=True),
        else_branch=_branch("else", 2.0),
    )
    inner_if = helper.make_node(
        "If",
        ["cond_in"],
        ["inner_out"],
        then_branch=_branch("t2", 3.0),
        else_branch=_branch("e2", 4.0),
    )
    body_w = numpy_helper.from_array(np.array([5.0, 6.0], np.float32), "W")
    body = helper.make_graph(
        [
            inner_if,
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["inner_out", "W"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", F, [2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", F, [2]),
        ],
        initializer=[body_w],
    )
    trip = numpy_helper.from_array(np.array(2, np.int64), "trip")
    loop = helper.make_node("Loop", ["trip", "cond", "x"], ["loop_out"], name="loop", body=body)
    scan_w = numpy_helper.from_array(np.array([7.0], np.float32), "W")
    scan_body = helper.make_graph(
        [
            helper.make_node("Add", ["s_in", "W"], ["s_out"]),
            helper.make_node("Identity", ["s_out"], ["e_out"]),
        ],
        "scan_body",
        [
            helper.make_tensor_value_info("s_in", F, [1]),
            helper.make_tensor_value_info("e_in", F, [1]),
        ],
        [
            helper.make_tensor_value_info("s_out", F, [1]),
            helper.make_tensor_value_info("e_out", F, [1]),
        ],
        initializer=[scan_w],
    )
    init_s = numpy_helper.from_array(np.zeros(1, np.float32), "s0")
    seq = helper.make_tensor_value_info("seq", F, [3, 1])
    scan = helper.make_node(
        "Scan", ["s0", "seq"], ["s_final", "scan_out"], num_scan_inputs=1, body=scan_body
    )
    graph = helper.make_graph(
        [if_node, loop, scan],
        "control",
        [x, cond, seq],
        [helper.make_tensor_value_info(n, F, [2]) for n in ("if_out", "loop_out")]
        + [
            helper.make_tensor_value_info("s_final", F, [1]),
            helper.make_tensor_value_info("scan_out", F, [3, 1]),
        ],
        initializer=[trip, init_s],
    )
    expected = {
        "trip": np.array(2, np.int64),
        "s0": np.zeros(1, np.float32),
        "if_node/then_branch/W": np.full(2, 1.0, np.float32),
        "if_node/then_branch/k": np.array(10.0, np.float32),
        "if_node/else_branch/W": np.full(2, 2.0, np.float32),
        "loop/body/W": np.array([5.0, 6.0], np.float32),
        "loop/body/If/then_branch/W": np.full(2, 3.0, np.float32),
        "loop/body/If/else_branch/W": np.full(2, 4.0, np.float32),
        "Scan/body/W": np.array([7.0], np.float32),
    }
    return model(graph), expected


def function_model() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A model-local function holding a Constant, used by the main graph."""
    fn = helper.make_function(
        "custom.ops",
        "AddBias",
        ["x"],
        ["y"],
        [
            helper.make_node(
                "Constant",
                [],
                ["bias"],
                value=numpy_helper.from_array(np.array([0.25, 0.5], np.float32)),
            ),
            helper.make_node("Add", ["x", "bias"], ["y"]),
        ],
        [helper.make_opsetid("", 18)],
    )
    graph = helper.make_graph(
        [helper.make_node("AddBias", ["x"], ["y"], domain="custom.ops")],
        "uses_function",
        [helper.make_tensor_value_info("x", F, [2])],
        [helper.make_tensor_value_info("y", F, [2])],
    )
    opsets = [*OPSET, helper.make_opsetid("custom.ops", 1)]
    return model(graph, opsets=opsets, functions=[fn]), {
        "functions/custom.ops.AddBias/bias": np.array([0.25, 0.5], np.float32)
    }


def ml_node(op: str, inputs, outputs, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, outputs, domain="ai.onnx.ml", **attrs)


def ml_model() -> onnx.ModelProto:
    """ai.onnx.ml nodes built by hand, one of each attribute kind (not run, not checked)."""
    tree_values = numpy_helper.from_array(
        np.array([0.5, 0.0, 0.0], np.float64), "nodes_values_as_tensor"
    )
    nodes = [
        ml_node(
            "LinearRegressor",
            ["x"],
            ["lr"],
            name="lin",
            coefficients=[1.0, 2.0, 3.0],
            intercepts=[0.5],
            targets=1,
        ),
        ml_node("Scaler", ["x"], ["sc"], offset=[1.0, 2.0, 3.0], scale=[0.5, 0.25, 2.0]),
        ml_node("Binarizer", ["x"], ["bi"], threshold=0.75),
        ml_node("Normalizer", ["x"], ["no"], norm="L2"),
        ml_node("OneHotEncoder", ["c"], ["oh"], cats_int64s=[3, 5, 9], zeros=1),
        ml_node(
            "Imputer",
            ["x"],
            ["im"],
            imputed_value_floats=[0.0, 1.0, 2.0],
            replaced_value_float=np.nan,
        ),
        ml_node("LabelEncoder", ["s"], ["le"], keys_strings=["a", "b"], values_int64s=[1, 2]),
        ml_node(
            "TreeEnsembleRegressor",
            ["x"],
            ["te"],
            nodes_treeids=[0, 0, 0],
            nodes_nodeids=[0, 1, 2],
            nodes_featureids=[0, 0, 0],
            nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
            nodes_truenodeids=[1, 0, 0],
            nodes_falsenodeids=[2, 0, 0],
            nodes_values_as_tensor=tree_values,
            target_ids=[0, 0],
            target_nodeids=[1, 2],
            target_treeids=[0, 0],
            target_weights_as_tensor=numpy_helper.from_array(np.array([-1.0, 1.0]), "tw"),
            base_values=[0.125],
            n_targets=1,
        ),
        ml_node(
            "TreeEnsemble",
            ["x"],
            ["te5"],
            nodes_featureids=[0],
            nodes_modes=numpy_helper.from_array(np.array([0], np.uint8), "m"),
            nodes_splits=numpy_helper.from_array(np.array([0.5], np.float32), "s"),
            nodes_truenodeids=[0],
            nodes_falsenodeids=[1],
            nodes_trueleafs=[1],
            nodes_falseleafs=[1],
            leaf_targetids=[0, 0],
            leaf_weights=numpy_helper.from_array(np.array([-2.0, 2.0], np.float32), "w"),
            tree_roots=[0],
            n_targets=1,
            aggregate_function=1,
            post_transform=0,
        ),
        ml_node("LinearRegressor", ["x"], ["lr2"], coefficients=[4.0]),
        ml_node("LinearRegressor", ["x"], ["lr3"], coefficients=[5.0]),
    ]
    graph = helper.make_graph(
        nodes,
        "ml",
        [
            helper.make_tensor_value_info("x", F, [None, 3]),
            helper.make_tensor_value_info("c", TensorProto.INT64, [None, 1]),
            helper.make_tensor_value_info("s", TensorProto.STRING, [None]),
        ],
        [helper.make_tensor_value_info(n.output[0], F, None) for n in nodes],
    )
    return model(
        graph,
        opsets=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 5)],
        check=False,
    )


def external_model(
    folder: Path,
    *,
    location: str = "weights.bin",
    offset: int = 0,
    length: int | None = None,
    write_data: bool = True,
) -> tuple[Path, dict[str, np.ndarray]]:
    """model.onnx in folder with two initializers in external data file `location`.

    The reference is written by hand, so it may point anywhere (for the refusal tests).
    """
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = np.array([1, -2, 3], np.int64)
    pad = b"\xee" * offset
    data = pad + w.tobytes() + b.tobytes()
    if write_data:
        (folder / location).write_bytes(data)
    tensors = []
    position = offset
    for name, array in (("W", w), ("b", b)):
        tensor = numpy_helper.from_array(array, name)
        size = array.nbytes
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (
            ("location", location),
            ("offset", position),
            ("length", size if length is None else length),
        ):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, str(value)
        tensors.append(tensor)
        position += size
    path = folder / "model.onnx"
    onnx.save(model(identity_graph(tensors), check=False), path)
    return path, {"W": w, "b": b}
