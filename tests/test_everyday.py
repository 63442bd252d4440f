"""Everyday conveniences (issue 15): small things people reach for, through the real CLI."""

from __future__ import annotations

import json

import numpy as np

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
