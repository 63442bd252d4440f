"""The ONNX reader: every place parameters live, names, external data safety, shipped models."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import ml_dtypes
import numpy as np
import onnx
import onnx_models as om
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import exporter
from exporter.core.errors import ExporterError, InputError, UnsafeInputError, UnsupportedError
from exporter.models.onnx.graph import looks_like_model, weightset_from_onnx
from exporter.models.onnx.values import safe_name
from exporter.readers import detect, probe, readers

ONNX_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
SHIPPED = sorted(ONNX_DATA.rglob("*.onnx"))


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, path)
    return path


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == np.ascontiguousarray(expected).tobytes()


# ---------------------------------------------------------------- detection and model errors


def test_detects_onnx_by_extension_and_by_content(tmp_path):
    proto, _, _ = om.encodings()
    assert detect(save(proto, tmp_path / "m.onnx")).kind == "onnx"
    assert detect(save(proto, tmp_path / "weights.bin")).kind == "onnx"


def _other_files(folder: Path) -> list[Path]:
    np.savez(folder / "a.npz", x=np.ones(3))
    with h5py.File(folder / "b.h5", "w") as handle:
        handle["x"] = np.ones(3)
    (folder / "c.json").write_text(json.dumps({"x": [1, 2]}))
    from safetensors.numpy import save_file

    save_file({"x": np.ones(3, np.float32)}, str(folder / "d.safetensors"))
    (folder / "e.bin").write_bytes(b"\x08\x01\x00\x00garbage")  # starts like ir_version=1
    (folder / "f.txt").write_bytes(b"\x08\x07\x12" + np.random.default_rng(0).bytes(5000))
    return sorted(folder.iterdir())


def test_other_files_are_not_onnx(tmp_path):
    onnx_reader = readers().get("onnx")
    for path in _other_files(tmp_path):
        assert not onnx_reader.detect(probe(path)), path.name


def test_big_model_and_tensor_files_by_content(tmp_path):
    onnx_reader = readers().get("onnx")
    big = max(SHIPPED, key=lambda p: p.stat().st_size)
    assert big.stat().st_size > 4096
    copy = tmp_path / "model.pb"
    copy.write_bytes(big.read_bytes())
    assert detect(copy).kind == "onnx"
    tensors = sorted(ONNX_DATA.rglob("*.pb"))  # TensorProto files, not models
    assert len(tensors) > 100
    assert not any(onnx_reader.detect(probe(p)) for p in tensors)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_head_check_never_raises(head, whole):
    assert looks_like_model(head, whole) in (True, False)


def test_real_model_head_passes_the_content_check():
    for path in SHIPPED[:20]:
        data = path.read_bytes()
        assert looks_like_model(data[:4096], len(data) <= 4096), path


@pytest.mark.parametrize(
    "content,message",
    [
        (b"\xff\xff\xff\xff not protobuf", "not a valid ONNX model"),
        (onnx.ModelProto(ir_version=8).SerializeToString(), "no graph"),
    ],
)
def test_invalid_onnx_file_is_one_line_input_error(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        exporter.load(path)
    assert "\n" not in str(caught.value) and "bad.onnx" in str(caught.value)


def test_model_info(tmp_path):
    proto, _, _ = om.encodings()
    proto.producer_version = "9.9"
    path = save(proto, tmp_path / "m.onnx")
    info = exporter.load(path).info
    assert (info.kind, info.framework, info.framework_version) == ("onnx", "onnx", "tests 9.9")
    assert info.model_name == "g" and info.file == "m.onnx"
    assert callable(info.digest)  # the file's sha256, still being computed in the background
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.digest == info.sha256  # waited for once, then kept
    assert info.extra["ir_version"] == 9 and info.extra["graph_name"] == "g"
    assert info.extra["opset_import"] == {"ai.onnx": 18, "ai.onnx.ml": 3}
    assert info.extra["producer_name"] == "tests"


# ---------------------------------------------------------------- where parameters live


def test_every_initializer_encoding(tmp_path):
    proto, expected, fields = om.encodings()
    assert fields["f32_raw"] == "raw_data" and fields["f32_typed"] == "float_data"
    assert fields["f16"] == fields["bf16"] == fields["flags"] == fields["u8"] == "int32_data"
    assert fields["i64"] == "int64_data" and fields["f64"] == "double_data"
    ws = exporter.load(save(proto, tmp_path / "m.onnx"))
    assert ws.names() == list(expected)
    arrays = ws.arrays()
    for name, array in expected.items():
        assert_same(arrays[name], array)
    assert arrays["bf16"].dtype == np.dtype(ml_dtypes.bfloat16)
    assert all(t.trainable is None for t in ws)


def test_values_are_decoded_lazily(tmp_path):
    proto, _, _ = om.encodings()
    ws = exporter.load(save(proto, tmp_path / "m.onnx"))
    assert all(callable(t.source) for t in ws)


def test_sparse_initializer_and_sparse_constant():
    proto, expected = om.sparse_model()
    ws = weightset_from_onnx(proto)
    assert ws.names() == list(expected)
    for name, array in expected.items():
        assert_same(ws[name].read(), array)
    assert ws.info.extra["sparse"] == {
        "S": {"dims": [3, 4], "nnz": 3},
        "cs": {"dims": [3, 2], "nnz": 2},
    }
    assert "dense shape [3, 4]" in ws["S/values"].origin


def test_every_constant_attribute_kind():
    proto, expected, strings = om.constants_model()
    ws = weightset_from_onnx(proto)
    assert ws.names() == list(expected)
    for name, array in expected.items():
        assert_same(ws[name].read(), array)
    assert ws.info.extra["strings"] == strings


def test_subgraphs_of_if_loop_scan_are_prefixed_by_node_and_branch():
    proto, expected = om.control_flow_model()
    ws = weightset_from_onnx(proto)
    assert sorted(ws.names()) == sorted(expected)
    for name, array in expected.items():
        assert_same(ws[name].read(), array)
    assert "then_branch" in ws["if_node/then_branch/W"].origin


def test_model_local_function():
    proto, expected = om.function_model()
    ws = weightset_from_onnx(proto)
    assert ws.names() == list(expected)
    assert_same(
        ws["functions/custom.ops.AddBias/bias"].read(),
        expected["functions/custom.ops.AddBias/bias"],
    )


def test_training_info_graphs_and_untyped_attributes():
    proto, _, _ = om.encodings()
    algorithm = helper.make_graph(
        [helper.make_node("Constant", [], ["lr"], value_float=0.01)],
        "algorithm",
        [],
        [helper.make_tensor_value_info("lr", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(np.array([0.9], np.float32), "momentum")],
    )
    proto.training_info.add().algorithm.CopyFrom(algorithm)
    old = helper.make_node("Constant", [], ["legacy"], value_ints=[4, 5])
    old.attribute[0].type = 0  # some old exporters left the attribute type unset
    proto.graph.node.insert(0, old)
    ws = weightset_from_onnx(proto)
    assert_same(ws["legacy"].read(), np.array([4, 5], np.int64))
    assert_same(ws["training_info/0/algorithm/momentum"].read(), np.array([0.9], np.float32))
    assert_same(ws["training_info/0/algorithm/lr"].read(), np.array(0.01, np.float32))


def test_constant_of_shape_is_computed_not_exported():
    fill = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
    shape = numpy_helper.from_array(np.array([2, 3], np.int64), "shape")
    node = helper.make_node("ConstantOfShape", ["shape"], ["filled"], value=fill)
    graph = helper.make_graph(
        [node],
        "cos",
        [],
        [helper.make_tensor_value_info("filled", TensorProto.FLOAT, [2, 3])],
        initializer=[shape],
    )
    ws = weightset_from_onnx(om.model(graph))
    assert ws.names() == ["shape"]
    assert ws.info.extra["computed"] == [
        {"output": "filled", "op": "ConstantOfShape", "shape_from": "shape", "value": 0.5}
    ]
    (note,) = ws.info.notes()
    assert note.code == "onnx-computed" and note.text.startswith("1 tensor(s) are computed by")


def test_warnings_are_coded_notes_stored_as_their_text(tmp_path):
    """A warning carries a code for code that acts on it; the manifest stores its text as a
    plain string, exactly as before codes existed, and reads it back without the code."""
    shape = numpy_helper.from_array(np.array([2], np.int64), "shape")
    node = helper.make_node("ConstantOfShape", ["shape"], ["/filled"])
    graph = helper.make_graph(
        [node], "cos", [], [helper.make_tensor_value_info("/filled", TensorProto.FLOAT, [2])],
        initializer=[shape],
    )  # fmt: skip
    ws = weightset_from_onnx(om.model(graph))
    assert [n.code for n in ws.info.notes()] == ["onnx-computed"]
    assert all(type(w) is str for w in ws.info.warnings)
    manifest = exporter.export(ws, tmp_path / "m.json")
    assert manifest["warnings"] == ws.info.warnings
    back = exporter.load(tmp_path / "m.json").info
    assert back.warnings == ws.info.warnings and [n.code for n in back.notes()] == [""]


def test_unsafe_onnx_names_are_made_safe_and_kept_in_origin():
    assert safe_name("/Constant_output_0") == "Constant_output_0"
    assert safe_name("a/../b") == "a/%2E%2E/b"
    assert safe_name("x\\y\n") == "x%5Cy%0A"
    const = helper.make_node(
        "Constant", [], ["/Constant_output_0"], value_ints=[1, 2], name="/Constant"
    )
    init = numpy_helper.from_array(np.ones(2, np.float32), "a/../b")
    graph = helper.make_graph(
        [const, helper.make_node("Identity", ["a/../b"], ["y"])],
        "names",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        initializer=[init],
    )
    ws = weightset_from_onnx(om.model(graph))
    assert ws.names() == ["a/%2E%2E/b", "Constant_output_0"]
    assert "'/Constant_output_0'" in ws["Constant_output_0"].origin
    (note,) = ws.info.notes()
    assert note.code == "onnx-renamed" and note.text.startswith("2 ONNX name(s) were not safe")


# ---------------------------------------------------------------- ai.onnx.ml attributes


def test_hand_built_ml_nodes_export_every_numeric_attribute(tmp_path):
    ws = weightset_from_onnx(om.ml_model())
    a = ws.arrays()
    assert_same(a["lin/coefficients"], np.array([1, 2, 3], np.float32))
    assert_same(a["lin/intercepts"], np.array([0.5], np.float32))
    assert_same(a["lin/targets"], np.array(1, np.int64))
    assert_same(a["Scaler/offset"], np.array([1, 2, 3], np.float32))
    assert_same(a["Binarizer/threshold"], np.array(0.75, np.float32))
    assert_same(a["OneHotEncoder/cats_int64s"], np.array([3, 5, 9], np.int64))
    assert (
        np.isnan(a["Imputer/replaced_value_float"])
        and a["Imputer/replaced_value_float"].dtype == np.float32
    )
    assert_same(a["TreeEnsembleRegressor/nodes_values_as_tensor"], np.array([0.5, 0, 0]))
    assert_same(a["TreeEnsembleRegressor/target_weights_as_tensor"], np.array([-1.0, 1.0]))
    assert_same(a["TreeEnsembleRegressor/base_values"], np.array([0.125], np.float32))
    assert_same(a["TreeEnsemble/nodes_modes"], np.array([0], np.uint8))
    assert_same(a["TreeEnsemble/leaf_weights"], np.array([-2, 2], np.float32))
    assert_same(a["TreeEnsemble/aggregate_function"], np.array(1, np.int64))
    # two unnamed nodes of one op_type get the node's index in the graph
    assert_same(a["LinearRegressor_9/coefficients"], np.array([4], np.float32))
    assert_same(a["LinearRegressor_10/coefficients"], np.array([5], np.float32))
    strings = ws.info.extra["strings"]
    assert strings["Normalizer/norm"] == {"shape": [], "values": ["L2"]}
    assert strings["LabelEncoder/keys_strings"] == {"shape": [2], "values": ["a", "b"]}
    assert strings["TreeEnsembleRegressor/nodes_modes"]["values"] == ["BRANCH_LEQ", "LEAF", "LEAF"]
    exporter.export(ws, tmp_path / "ml.npz")  # the strings travel in the manifest
    assert exporter.load(tmp_path / "ml.npz").info.extra["strings"] == strings


@pytest.fixture(scope="module")
def sk():
    """Fitted scikit-learn models and data (float32 features, as skl2onnx sees them)."""
    from sklearn.datasets import load_diabetes, load_iris

    X, y = load_diabetes(return_X_y=True)
    Xi, yi = load_iris(return_X_y=True)
    return {"X": X.astype(np.float32), "y": y, "Xi": Xi.astype(np.float32), "yi": yi}


def _convert(est, X, **options):
    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_onnx(est, X[:1], options=options or None)


def test_skl2onnx_linear_regression_gives_coef_and_intercept(sk, tmp_path):
    from sklearn.linear_model import LinearRegression

    est = LinearRegression().fit(sk["X"], sk["y"])
    ws = exporter.load(save(_convert(est, sk["X"]), tmp_path / "lr.onnx"))
    a = ws.arrays()
    assert_same(a["LinearRegressor/coefficients"], est.coef_.astype(np.float32))
    assert_same(a["LinearRegressor/intercepts"], est.intercept_.astype(np.float32).reshape(1))
    assert ws.info.framework_version.startswith("skl2onnx ")


def test_skl2onnx_multi_target_coefficients_are_flat_targets_by_features(sk):
    import onnxruntime as ort
    from sklearn.linear_model import LinearRegression

    X = sk["X"]
    est = LinearRegression().fit(X, np.c_[sk["y"], X[:, 0] * 3 - 1])
    proto = _convert(est, X)
    a = weightset_from_onnx(proto).arrays()
    coefficients = a["LinearRegressor/coefficients"]
    assert coefficients.shape == (2 * X.shape[1],)
    assert_same(coefficients, est.coef_.astype(np.float32).ravel())
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (ours,) = session.run(None, {session.get_inputs()[0].name: X[:20]})
    mine = X[:20] @ coefficients.reshape(2, -1).T + a["LinearRegressor/intercepts"]
    np.testing.assert_allclose(ours, mine, rtol=1e-5, atol=1e-3)


def test_skl2onnx_standard_scaler_offset_and_inverse_scale(sk):
    from sklearn.preprocessing import StandardScaler

    est = StandardScaler().fit(sk["X"])
    a = weightset_from_onnx(_convert(est, sk["X"])).arrays()
    assert_same(a["Scaler/offset"], est.mean_.astype(np.float32))
    assert_same(a["Scaler/scale"], (1 / est.scale_).astype(np.float32))


def test_skl2onnx_logistic_regression(sk):
    from sklearn.linear_model import LogisticRegression

    Xi, yi = sk["Xi"], sk["yi"]
    multi = LogisticRegression(max_iter=1000).fit(Xi, yi)
    a = weightset_from_onnx(_convert(multi, Xi, zipmap=False)).arrays()
    assert_same(a["LinearClassifier/coefficients"], multi.coef_.astype(np.float32).ravel())
    assert_same(a["LinearClassifier/intercepts"], multi.intercept_.astype(np.float32))
    binary = LogisticRegression(max_iter=1000).fit(Xi, yi == 1)
    a = weightset_from_onnx(_convert(binary, Xi, zipmap=False)).arrays()
    coef = binary.coef_.astype(np.float32)
    # the binary case stores a negated copy first (FORMATS.md)
    assert_same(a["LinearClassifier/coefficients"], np.concatenate([-coef, coef]).ravel())
    b = binary.intercept_.astype(np.float32)
    assert_same(a["LinearClassifier/intercepts"], np.concatenate([-b, b]))


def test_skl2onnx_svc(sk):
    from sklearn.svm import SVC

    est = SVC().fit(sk["Xi"], sk["yi"])
    a = weightset_from_onnx(_convert(est, sk["Xi"], zipmap=False)).arrays()
    assert_same(a["SVMc/support_vectors"], est.support_vectors_.astype(np.float32).ravel())
    assert_same(a["SVMc/coefficients"], est.dual_coef_.astype(np.float32).ravel())
    assert_same(a["SVMc/rho"], est.intercept_.astype(np.float32))
    assert_same(a["SVMc/vectors_per_class"], est.n_support_.astype(np.int64))


def _float32_at_or_below(threshold: np.ndarray) -> np.ndarray:
    """skl2onnx's float32 threshold: the largest float32 not above sklearn's float64 one."""
    down = threshold.astype(np.float32)
    above = down.astype(np.float64) > threshold
    return np.where(above, np.nextafter(down, np.float32(-np.inf)), down)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_skl2onnx_random_forest_tree_arrays(sk, kind):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if kind == "regressor":
        est = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(
            sk["X"], sk["y"]
        )
        proto, op = _convert(est, sk["X"]), "TreeEnsembleRegressor"
    else:
        est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(
            sk["Xi"], sk["yi"]
        )
        proto, op = _convert(est, sk["Xi"], zipmap=False), "TreeEnsembleClassifier"
    ws = weightset_from_onnx(proto)
    a = ws.arrays()
    assert a[f"{op}/nodes_nodeids"].size == sum(e.tree_.node_count for e in est.estimators_)
    assert ws.info.extra["strings"][f"{op}/nodes_modes"]["values"].count("LEAF") == sum(
        e.tree_.n_leaves for e in est.estimators_
    )
    for t, tree in enumerate(e.tree_ for e in est.estimators_):
        mine = a[f"{op}/nodes_treeids"] == t
        ids = a[f"{op}/nodes_nodeids"][mine]
        split = tree.children_left[ids] != -1
        assert_same(
            a[f"{op}/nodes_featureids"][mine][split], tree.feature[ids][split].astype(np.int64)
        )
        expected = _float32_at_or_below(tree.threshold[ids][split])
        assert_same(a[f"{op}/nodes_values"][mine][split], expected)


# ---------------------------------------------------------------- errors in tensors


def test_damaged_raw_data_is_input_error():
    tensor = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
    tensor.raw_data = tensor.raw_data[:-4]
    with pytest.raises(InputError, match=r"'W'.*stores 20 bytes.*need 24"):
        weightset_from_onnx(om.model(om.identity_graph([tensor]), check=False))


def test_damaged_raw_data_is_refused_by_commands_that_read_no_values(tmp_path, cli):
    tensor = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")
    path = tmp_path / "m.onnx"
    onnx.save(om.model(om.identity_graph([tensor]), check=False), path)
    assert cli("spec", path, "-o", tmp_path / "spec.json").exit_code == 0
    tensor.raw_data = tensor.raw_data[:-4]
    onnx.save(om.model(om.identity_graph([tensor]), check=False), path)
    for args in (["spec", path, "-o", tmp_path / "again.json"],
                 ["check", path, "--spec", tmp_path / "spec.json"]):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 3 and "stores 20 bytes" in result.stderr, args


@pytest.mark.parametrize(
    "dtype", [TensorProto.COMPLEX64, TensorProto.INT4, TensorProto.FLOAT8E4M3FNUZ]
)
def test_unsupported_dtype_names_the_tensor(dtype):
    tensor = helper.make_tensor(
        "odd", dtype, [2], [1, 0] if dtype != TensorProto.COMPLEX64 else [1j, 2]
    )
    with pytest.raises(UnsupportedError, match=r"'odd'.*cannot export"):
        weightset_from_onnx(om.model(om.identity_graph([tensor]), check=False))


# ---------------------------------------------------------------- external data


def test_external_data_is_memory_mapped(tmp_path, monkeypatch):
    import mmap

    from exporter.files import maps as mapping

    path, expected = om.external_model(tmp_path, offset=16)
    monkeypatch.setattr(mapping, "SMALL_TENSOR_BYTES", 0)  # map even these tiny tensors
    ws = exporter.load(path)
    assert ws.names() == ["W", "b"]
    for name, array in expected.items():
        values = ws[name].source()
        base = values
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(getattr(base, "obj", base), mmap.mmap) and not values.flags.writeable
        assert_same(ws[name].read(), array)
    assert "external 'weights.bin' offset 16" in ws["W"].origin
    assert ws.info.extra["external_data"] == ["weights.bin"]


def test_external_data_written_by_onnx_itself(tmp_path):
    proto, expected, _ = om.encodings()
    path = tmp_path / "m.onnx"
    (tmp_path / "data").mkdir()
    onnx.save_model(
        proto, path, save_as_external_data=True, location="data/all.bin", size_threshold=0
    )
    assert (tmp_path / "data" / "all.bin").is_file()
    arrays = exporter.load(path).arrays()
    reference = onnx.load(path)  # onnx's own external data loader
    for tensor in reference.graph.initializer:
        assert_same(arrays[tensor.name], numpy_helper.to_array(tensor))
        assert_same(arrays[tensor.name], expected[tensor.name])


def _outside(tmp_path: Path) -> tuple[Path, Path]:
    folder, outside = tmp_path / "model", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    return folder, outside


def _refused(path: Path, exc_type: type, pattern: str) -> str:
    with pytest.raises(exc_type, match=pattern) as caught:
        exporter.load(path).arrays()
    message = str(caught.value)
    assert "\n" not in message and "'W'" in message
    return message


def test_external_dotdot_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    path, _ = om.external_model(folder, location="../outside/weights.bin", write_data=False)
    _refused(path, UnsafeInputError, r"leaves the model's folder \('\.\.'\)")


def test_external_absolute_path_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    location = str(outside / "weights.bin")
    path, _ = om.external_model(folder, location=location, write_data=False)
    _refused(path, UnsafeInputError, "is absolute")
    path, _ = om.external_model(folder, location="C:\\data\\w.bin", write_data=False)
    _refused(path, UnsafeInputError, "is absolute")


def test_external_symlinked_file_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    path, _ = om.external_model(folder, write_data=False)
    (folder / "weights.bin").symlink_to(outside / "weights.bin")
    _refused(path, UnsafeInputError, "is a symlink")


def test_external_symlinked_folder_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    (folder / "sub").symlink_to(outside)
    path, _ = om.external_model(folder, location="sub/weights.bin", write_data=False)
    _refused(path, UnsafeInputError, "goes through a symlink")


def test_external_hard_link_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    path, _ = om.external_model(folder, write_data=False)
    os.link(outside / "weights.bin", folder / "weights.bin")
    _refused(path, UnsafeInputError, "2 hard links")


def test_external_not_a_regular_file_is_refused(tmp_path):
    path, _ = om.external_model(tmp_path, location="data", write_data=False)
    (tmp_path / "data").mkdir()
    _refused(path, UnsafeInputError, "not a regular file")


def test_external_file_swapped_after_loading_is_refused(tmp_path):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    path, _ = om.external_model(folder)
    ws = exporter.load(path)
    (folder / "weights.bin").unlink()
    os.link(outside / "weights.bin", folder / "weights.bin")
    with pytest.raises(UnsafeInputError, match="hard links"):
        ws["W"].read()


def test_external_range_past_the_end_is_damage_not_unsafe(tmp_path):
    path, _ = om.external_model(tmp_path)
    data = (tmp_path / "weights.bin").read_bytes()
    (tmp_path / "weights.bin").write_bytes(data[:40])
    message = _refused(path, InputError, r"past the end of 'weights.bin' \(40 bytes\)")
    with pytest.raises(InputError) as caught:
        exporter.load(path)
    assert not isinstance(caught.value, UnsafeInputError), message


def test_external_length_must_match_dtype_and_shape(tmp_path):
    path, _ = om.external_model(tmp_path, length=5)
    _refused(path, InputError, "length 5 does not match dtype x shape \\(48 bytes\\)")


def test_external_missing_file(tmp_path):
    path, _ = om.external_model(tmp_path, write_data=False)
    _refused(path, InputError, "not found next to the model")


# ---------------------------------------------------------------- the models onnx ships


def test_onnx_ships_test_models():
    assert len(SHIPPED) > 100  # if onnx stops shipping them, this test has to find others
    light = [p for p in SHIPPED if p.parent.name == "light"]
    assert light and all(len(exporter.load(p)) > 10 for p in light)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ONNX_DATA)))
def test_shipped_model_reads_like_onnx_numpy_helper(path):
    try:
        arrays = exporter.load(path).arrays()
    except ExporterError:
        return
    for tensor in onnx.load(path).graph.initializer:
        expected = numpy_helper.to_array(tensor)
        assert np.array_equal(arrays[tensor.name], expected, equal_nan=True), tensor.name
        assert arrays[tensor.name].dtype == expected.dtype


def test_every_onnx_node_test_case_reads_or_fails_cleanly():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = [c for c in collect_testcases(None) if c.model is not None]
    assert len(cases) > 1000
    read = with_tensors = 0
    for case in cases:
        try:
            ws = weightset_from_onnx(case.model, file=case.name)
            arrays = ws.arrays()
        except ExporterError:
            continue
        read += 1
        with_tensors += bool(arrays)
        for tensor in case.model.graph.initializer:
            assert np.array_equal(
                arrays[tensor.name], numpy_helper.to_array(tensor), equal_nan=True
            )
    assert read > 0.95 * len(cases) and with_tensors > 300


# ---------------------------------------------------------------- command line


def test_cli_inspect_export_validate(tmp_path, cli):
    proto, expected = om.control_flow_model()
    path = save(proto, tmp_path / "control.onnx")
    table = cli("inspect", path)
    assert table.exit_code == 0, table
    assert "if_node/then_branch/W" in table.stdout and "onnx" in table.stderr
    document = json.loads(cli("inspect", path, "--json").stdout)
    assert {t["name"] for t in document["tensors"]} == set(expected)
    out = tmp_path / "x.npz"
    result = cli("export", path, "-o", out)
    assert result.exit_code == 0, result
    assert cli("validate", out).exit_code == 0
    with np.load(out) as npz:
        for name, array in expected.items():
            assert_same(npz[name], array)
    assert exporter.load(out).info.extra["exported_from"]["kind"] == "onnx"


@pytest.mark.parametrize("fmt", ["npz", "safetensors", "json", "csv"])
def test_exports_of_onnx_tensors_round_trip(tmp_path, fmt):
    proto, expected, _ = om.encodings()
    ws = weightset_from_onnx(proto, file="m.onnx")
    out = tmp_path / f"x.{fmt}"
    exporter.export(ws, out, format=fmt)
    back = exporter.load(out).arrays()
    assert list(back) == list(expected)
    for name, array in expected.items():
        assert_same(back[name], array)


def test_cli_refusal_exits_3_with_one_line(tmp_path, cli):
    folder, outside = _outside(tmp_path)
    om.external_model(outside)
    path, _ = om.external_model(folder, location="../outside/weights.bin", write_data=False)
    result = cli("export", path, "-o", tmp_path / "x.npz")
    assert result.exit_code == 3
    assert "'..'" in result.stderr and not (tmp_path / "x.npz").exists()


# A KeyError is in the old catch-all (which made any of them "damaged file", exit 3); a
# ZeroDivisionError never was. Both are bugs in a reader, not damage in the file.
READER_BUGS = [KeyError("a lookup the reader got wrong"), ZeroDivisionError("division by zero")]


@pytest.mark.parametrize("bug", READER_BUGS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("when", ["reading", "lazy tensor read"])
def test_a_reader_bug_is_exit_4_not_a_damaged_file(tmp_path, cli, monkeypatch, bug, when):
    """Only the errors a reader declares as damage (readers.Reader.damage) become exit 3; a bug,
    while reading or in a tensor's loader called later, is an internal error: exit 4, one line
    saying so, the traceback with --debug, and no output."""
    from exporter.models.onnx import values, walk

    path = save(om.encodings()[0], tmp_path / "m.onnx")

    def broken(*args):
        raise bug

    if when == "reading":
        monkeypatch.setattr(walk.Walker, "graph", broken)
    else:
        monkeypatch.setattr(values, "_raw_decoder", lambda *args: broken)
    out = tmp_path / "x.npz"
    result = cli("export", path, "-o", out)
    assert result.exit_code == 4, result
    line = f"exporter: internal error: {type(bug).__name__}"
    assert result.stderr.startswith(line) and "damaged" not in result.stderr, result
    assert not out.exists()
    debug = cli("--debug", "export", path, "-o", out)
    assert debug.exit_code == 4 and "Traceback (most recent call last)" in debug.stderr, debug


def test_a_truncated_model_is_still_exit_3(tmp_path, cli):
    data = save(om.encodings()[0], tmp_path / "m.onnx").read_bytes()
    for cut in (len(data) // 3, len(data) - 5):
        (tmp_path / "cut.onnx").write_bytes(data[:cut])
        result = cli("export", tmp_path / "cut.onnx", "-o", tmp_path / "x.npz")
        assert result.exit_code == 3, result
        assert "cut.onnx" in result.stderr and "internal error" not in result.stderr
        assert not (tmp_path / "x.npz").exists()


def test_detection_order_does_not_depend_on_import_order():
    """verify imports the ONNX reader before anything asks the registry (and the Keras guard
    imports the Keras readers): they register first, yet detection still tries the export
    formats first and the model readers in their listed order."""
    code = (
        "import exporter.models.onnx.graph, exporter.models.keras.files\n"
        "from exporter.readers import in_detection_order, readers\n"
        "print(' '.join(readers().names())); print(' '.join(r.kind for r in in_detection_order()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    registered, ordered = (line.split() for line in done.stdout.splitlines())
    assert registered == ordered  # the registry itself is kept in detection order
    formats = max(ordered.index(kind) for kind in ("npz", "json", "csv", "safetensors"))
    models = ["keras-v3", "keras-h5", "keras-weights-h5", "onnx", "sklearn-skops", "sklearn-pickle"]
    assert formats < ordered.index("keras-v3") and [k for k in ordered if k in models] == models


def test_reading_onnx_imports_no_tensorflow(tmp_path):
    proto, _, _ = om.encodings()
    path = save(proto, tmp_path / "m.onnx")
    code = (
        "import sys, exporter; ws = exporter.load(sys.argv[1]); ws.arrays(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tf imported'; "
        "print(len(ws))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "10"
