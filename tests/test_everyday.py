"""Everyday conveniences (issue 15): small things people reach for, through the real CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import exporter


def _export(tmp_path, name, arrays):
    ws = exporter.WeightSet()
    for key, value in arrays.items():
        ws.add(exporter.Tensor.from_array(key, value))
    out = tmp_path / name
    exporter.export(ws, out)
    return out


def test_diff_says_how_many_of_how_many_values_differ(tmp_path, cli):
    base = np.arange(256, dtype=np.float32).reshape(16, 16)
    changed = base.copy()
    changed.flat[:144] += 1
    a = _export(tmp_path, "a.npz", {"w": base, "same": base})
    b = _export(tmp_path, "b.npz", {"w": changed, "same": base})
    result = cli("diff", a, b)
    assert result.exit_code == 1
    assert "✗ w: 144 of 256 values differ" in result.stderr
    as_json = cli("diff", a, b, "--json")
    row = next(t for t in json.loads(as_json.stdout)["tensors"] if t["name"] == "w")
    assert (row["differing"], row["size"]) == (144, 256)


def test_short_version_flag(cli):
    result = cli("-V")
    assert result.exit_code == 0 and result.stdout.strip() == f"exporter {exporter.__version__}"


def test_shell_completion_is_offered(cli):
    result = cli("--show-completion", "bash")
    assert result.exit_code == 0, result
    assert "complete" in result.stdout and "exporter" in result.stdout


def test_json_errors_are_a_document_on_stdout(tmp_path, cli):
    missing = tmp_path / "missing.keras"
    for args in (("inspect", missing, "--json"), ("--json", "inspect", missing)):
        result = cli(*args)
        assert result.exit_code == 3
        document = json.loads(result.stdout)
        assert document["exit_code"] == 3 and str(missing) in document["error"]
        assert "exporter: error:" in result.stderr  # the one line is still on stderr
    plain = cli("inspect", missing)
    assert plain.exit_code == 3 and plain.stdout == ""


def test_a_store_name_that_cannot_be_used_suggests_one(tmp_path, cli):
    source = _export(tmp_path, "my model (v2).npz", {"w": np.ones(3, np.float32)})
    result = cli("export", source, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert "--name my_model_v2" in result.stderr, result.stderr
    named = cli("export", source, "--store", tmp_path / "store", "--name", "my_model_v2")
    assert named.exit_code == 0, named


def test_trailing_blank_lines_of_a_hand_edited_csv_are_not_rows(tmp_path):
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    wide = tmp_path / "wide-csv"
    exporter.export(_ws({"w": values, "b": values[0]}), wide, format="csv")
    for name in ("w.csv", "b.csv"):
        path = wide / name
        path.write_bytes(path.read_bytes() + b"\n  \n")
    read = exporter.load(wide)
    assert read["w"].read().tobytes() == values.tobytes()
    assert read["b"].read().tobytes() == values[0].tobytes()
    long = tmp_path / "long-csv"
    exporter.export(_ws({"w": values}), long, format="csv", csv_layout="long")
    table = long / "weights.csv"
    table.write_bytes(table.read_bytes() + b"\r\n\r\n")
    assert exporter.load(long)["w"].read().tobytes() == values.tobytes()
    (wide / "w.csv").write_bytes(b"0,1,2\n\n3,4,5\n")  # a blank row in the middle is damage
    assert exporter.validate(wide).ok is False


def _ws(arrays):
    ws = exporter.WeightSet()
    for key, value in arrays.items():
        ws.add(exporter.Tensor.from_array(key, value))
    return ws


def _layers(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "dense/kernel": rng.normal(size=(3, 4)).astype(np.float32),
        "dense/bias": np.zeros(4, np.float32),
        "head/kernel": rng.normal(size=(4, 2)).astype(np.float32),
        "head/bias": np.ones(2, np.float32),
    }
    return _export(tmp_path, "m.npz", arrays), arrays


def test_only_and_exclude_select_tensors_in_every_command(tmp_path, cli):
    source, arrays = _layers(tmp_path)
    out = tmp_path / "kernels.npz"
    done = cli("export", source, "-o", out, "--only", "*/kernel", "--exclude", "head/*")
    assert done.exit_code == 0, done
    assert exporter.load(out).names() == ["dense/kernel"]
    listed = json.loads(cli("inspect", source, "--json", "--only", "*/bias").stdout)
    assert [row["name"] for row in listed["tensors"]] == ["dense/bias", "head/bias"]
    other = _export(tmp_path, "other.npz", {**arrays, "head/bias": np.zeros(2, np.float32)})
    assert cli("diff", source, other).exit_code == 1
    assert cli("diff", source, other, "--exclude", "head/bias").exit_code == 0
    assert cli("diff", source, other, "--only", "dense/*", "--only", "head/kernel").exit_code == 0


def test_python_api_mapping_and_array_protocol(tmp_path):
    source, arrays = _layers(tmp_path)
    ws = exporter.load(source)
    as_dict = dict(ws)
    assert list(as_dict) == list(arrays) and as_dict["dense/bias"] is ws["dense/bias"]
    assert [name for name, _ in ws.items()] == list(arrays)
    assert ws.get("missing") is None and ws.get("head/bias") is ws["head/bias"]
    kernel = np.asarray(ws["dense/kernel"])
    assert kernel.tobytes() == arrays["dense/kernel"].tobytes()
    assert np.asarray(ws["head/bias"], dtype=np.float64).dtype == np.float64
    selected = exporter.load(source, only=["head/*"], exclude=["*/bias"])
    assert selected.names() == ["head/kernel"]
    assert "only" in exporter.load.__doc__ and "exporter.load" in (exporter.__doc__ or "")


def test_apply_to_a_scikit_learn_model_says_it_is_keras_only(tmp_path, cli):
    from sklearn.linear_model import LinearRegression
    from skops.io import dump

    model = tmp_path / "m.skops"
    dump(LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0]), model)
    weights = tmp_path / "w.npz"
    exporter.export(model, weights)
    result = cli("apply", weights, model, "-o", tmp_path / "n.skops")
    assert result.exit_code == 3
    assert "sklearn-skops" in result.stderr and "Keras model files" in result.stderr
    assert not (tmp_path / "n.skops").exists()


def test_name_template_names_batch_outputs_that_would_clash(tmp_path, cli):
    sources = []
    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
        sources.append(_export(tmp_path / run, "model.npz", {"w": np.full(2, len(run), np.int32)}))
    out = tmp_path / "out"
    clash = cli("export", *sources, "-o", out, "--format", "json")
    assert clash.exit_code == 2 and "--name-template" in clash.stderr
    done = cli(
        "export", *sources, "-o", out, "--format", "json", "--name-template", "{parent}_{stem}"
    )
    assert done.exit_code == 0, done
    assert sorted(p.name for p in out.iterdir()) == ["run1_model.json", "run2_model.json"]
    indexed = exporter.export_many(sources, tmp_path / "n", format="npz", name_template="m{index}")
    assert [r.out for r in indexed] == [str(tmp_path / "n" / f"m{i}.npz") for i in (1, 2)]
    for bad in ("{nope}", "../{stem}", "{stem}/x", "{0}"):
        refused = cli(
            "export", *sources, "-o", tmp_path / "bad", "--format", "npz", "--name-template", bad
        )
        assert refused.exit_code == 2, (bad, refused)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_show_prints_one_tensor_exactly(tmp_path, cli):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 4)).astype(np.float32)
    values[0, 0], values[0, 1] = np.inf, -0.0
    source = _export(tmp_path, "s.npz", {"dense/kernel": values, "n": np.array(7, np.int64)})
    as_json = cli("show", source, "dense/kernel", "--format", "json")
    assert as_json.exit_code == 0, as_json
    document = json.loads(as_json.stdout)
    assert (document["dtype"], document["shape"]) == ("float32", [3, 4])
    back = np.array(
        [[float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf")) for v in row]
         for row in document["values"]],
        np.float32,
    )  # fmt: skip
    assert back.tobytes() == values.tobytes()  # exact, -0.0 and Infinity included
    text = cli("show", source, "dense/kernel").stdout
    assert text.startswith("[[") and text.count("\n") == 1
    rows = cli("show", source, "dense/kernel", "-f", "csv").stdout.splitlines()
    assert len(rows) == 3 and all(len(r.split(",")) == 4 for r in rows)
    rounded = cli("show", source, "dense/kernel", "--precision", "3", "-f", "csv").stdout
    cells = rounded.replace("\n", ",").rstrip(",").split(",")
    assert cells[:2] == ["inf", "-0"]
    assert [float(c) for c in cells[2:]] == [
        float(f"{v:.3g}") for v in values.reshape(-1)[2:].tolist()
    ]
    assert cli("show", source, "n").stdout == "7\n"
    missing = cli("show", source, "dense/kernal")
    assert missing.exit_code == 3 and "dense/kernel" in missing.stderr
    assert cli("show", source, "n", "--precision", "0").exit_code == 2
    assert exporter.show(source, "n", format="json").startswith('{"name": "n"')


def test_dash_output_writes_json_or_the_long_csv_table_to_stdout(tmp_path, cli):
    source, _ = _layers(tmp_path)
    as_file = tmp_path / "w.json"
    exporter.export(source, as_file)
    piped = cli("export", source, "-o", "-")
    assert piped.exit_code == 0, piped
    assert piped.stdout == as_file.read_text()  # the same document, byte for byte
    long = tmp_path / "long-csv"
    exporter.export(source, long, format="csv", csv_layout="long")
    table = cli("export", source, "-o", "-", "--format", "csv")
    assert table.exit_code == 0 and table.stdout == (long / "weights.csv").read_text()
    assert cli("export", source, "-o", "-", "--format", "npz").exit_code == 2
    assert cli("export", source, source, "-o", "-").exit_code == 2
    assert not (tmp_path / "-").exists()


def test_json_int_as_string_keeps_64_bit_integers_exact_for_javascript(tmp_path, cli):
    values = {
        "big": np.array([2**62 + 1, -(2**63)], np.int64),
        "u": np.array([[2**64 - 1]], np.uint64),
        "small": np.array([1, 2], np.int32),
    }
    source = _export(tmp_path, "ints.npz", values)
    out = tmp_path / "ints.json"
    assert cli("export", source, "-o", out, "--json-int-as-string").exit_code == 0
    data = json.loads(out.read_text())["data"]
    assert data["big"] == ["4611686018427387905", "-9223372036854775808"]
    assert data["u"] == [["18446744073709551615"]] and data["small"] == [1, 2]
    assert exporter.validate(out).ok
    back = exporter.load(out)
    for name, array in values.items():
        assert back[name].read().tobytes() == array.tobytes()
    plain = tmp_path / "plain.json"
    exporter.export(source, plain)
    assert json.loads(plain.read_text())["data"]["big"] == [2**62 + 1, -(2**63)]


def _onnx_of(path, kernel_t, bias):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(kernel_t, "MatMul_W"),
        numpy_helper.from_array(bias, "Add_B"),
        numpy_helper.from_array(np.array([-1, 4], np.int64), "shape_const"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "MatMul_W", "Add_B"], ["y0"], transB=1),
        helper.make_node("Reshape", ["y0", "shape_const"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph), path)
    return path


def test_diff_across_a_conversion_pairs_tensors_by_their_values(tmp_path, cli):
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 4))  # float64 in the source, float32 transposed in the ONNX
    bias = rng.normal(size=4).astype(np.float32)
    kernel = kernel.astype(np.float32).astype(np.float64)
    source = _export(tmp_path, "src.npz", {"dense/kernel": kernel, "dense/bias": bias})
    model = _onnx_of(tmp_path / "m.onnx", kernel.T.astype(np.float32), bias)
    same = cli("diff", source, model)
    assert same.exit_code == 0, same
    assert "dense/kernel ↔ MatMul_W" in same.stderr and "dense/bias ↔ Add_B (exact)" in same.stderr
    document = json.loads(cli("diff", model, source, "--json").stdout)
    assert {(p["a"], p["b"]) for p in document["paired_by_values"]} == {
        ("MatMul_W", "dense/kernel"), ("Add_B", "dense/bias")
    }  # fmt: skip
    assert document["onnx_only"] == ["shape_const"]
    changed = bias.copy()
    changed[0] += 1
    other = _onnx_of(tmp_path / "changed.onnx", kernel.T.astype(np.float32), changed)
    result = cli("diff", source, other)
    assert result.exit_code == 1 and "dense/bias: no parameter" in result.stderr


def test_review_edges_of_the_new_options(tmp_path, cli):
    values = np.array([np.nan, np.inf, -np.inf, 0.1], np.float32)
    source = _export(tmp_path, "e.npz", {"h": values, "d1/bias": np.zeros(4, np.float32)})
    shown = json.loads(cli("show", source, "h", "-f", "json").stdout)  # valid JSON: tokens quoted
    assert shown["values"] == ["NaN", "Infinity", "-Infinity", 0.1]
    assert cli("export", source, "-o", tmp_path / "z.npz", "--only", "H").exit_code == 2
    assert cli("diff", source, source, "--only", "zzz").exit_code == 2
    refused = cli("export", source, "-o", tmp_path / "i.npz", "--json-int-as-string")
    assert refused.exit_code == 2 and not (tmp_path / "i.npz").exists()
    with pytest.raises(exporter.UsageError):
        exporter.export(source, tmp_path / 'q"x.h', c_split=True)
    assert not list(tmp_path.glob("q*"))


def test_diff_by_values_pairs_one_parameter_with_one_tensor(tmp_path, cli):
    zeros = np.zeros(4, np.float32)
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4)
    source = _export(tmp_path, "s.npz", {"k": kernel, "d1/bias": zeros, "d2/bias": zeros})
    model = _onnx_of(tmp_path / "m.onnx", kernel.T.copy(), zeros)  # one zero bias only
    result = cli("diff", source, model)
    assert result.exit_code == 1 and "d2/bias: no parameter" in result.stderr, result
    assert cli("diff", source, model, "--atol", "0.1").exit_code == 2
