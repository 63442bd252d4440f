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
