"""The command line: inspect/export/validate output, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import Ridge

import exporter


@pytest.fixture
def skops_model(tmp_path):
    rng = np.random.default_rng(0)
    est = Ridge().fit(rng.normal(size=(20, 3)), rng.normal(size=20))
    path = tmp_path / "ridge.skops"
    sio.dump(est, path)
    return path


def test_inspect_table_and_json(skops_model, cli):
    table = cli("inspect", skops_model)
    assert table.exit_code == 0, table
    assert "coef_" in table.stdout and "total: 2 tensors, 4 parameters" in table.stdout
    assert "min" in table.stdout.splitlines()[0]
    result = cli("inspect", skops_model, "--json")
    document = json.loads(result.stdout)
    assert [t["name"] for t in document["tensors"]] == ["coef_", "intercept_"]
    assert document["tensors"][0]["shape"] == [3] and document["tensors"][0]["dtype"] == "float64"
    assert document["totals"]["parameters"] == 4


@pytest.mark.parametrize(
    "ext,fmt", [("npz", "npz"), ("json", "json"), ("safetensors", "safetensors")]
)
def test_export_format_from_extension(skops_model, tmp_path, cli, ext, fmt):
    out = tmp_path / f"w.{ext}"
    result = cli("export", skops_model, "-o", out)
    assert result.exit_code == 0, result
    assert exporter.load(out).info.kind == fmt
    assert cli("validate", out).exit_code == 0


def test_export_csv_folder_and_validate_json(skops_model, tmp_path, cli):
    out = tmp_path / "csv"
    assert cli("export", skops_model, "-o", out, "--format", "csv").exit_code == 0
    assert (out / "manifest.json").is_file() and (out / "coef_.csv").is_file()
    report = json.loads(cli("validate", out, "--json").stdout)
    assert report["ok"] is True and report["tensors"] == 2


def test_existing_output_needs_force_and_is_kept(skops_model, tmp_path, cli):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = cli("export", skops_model, "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert out.read_bytes() == b"precious"
    assert cli("export", skops_model, "-o", out, "--force").exit_code == 0
    assert exporter.validate(out).ok
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_existing_csv_folder_replaced_only_with_force(skops_model, tmp_path, cli):
    out = tmp_path / "csv"
    assert cli("export", skops_model, "-o", out, "--format", "csv").exit_code == 0
    assert cli("export", skops_model, "-o", out, "--format", "csv").exit_code == 2
    (out / "coef_.csv").write_text("stale\n")
    assert cli("export", skops_model, "-o", out, "--format", "csv", "-f").exit_code == 0
    assert exporter.validate(out).ok


def test_force_never_replaces_what_exporter_did_not_write(skops_model, tmp_path, cli, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    result = cli("export", skops_model, "-o", mine, "--format", "csv", "--force")
    assert result.exit_code == 2 and "not an exporter CSV export" in result.stderr
    assert (mine / "notes.txt").read_text() == "keep"
    (tmp_path / "target.npz").write_bytes(b"keep")
    (tmp_path / "link.npz").symlink_to(tmp_path / "target.npz")
    result = cli("export", skops_model, "-o", tmp_path / "link.npz", "--force")
    assert result.exit_code == 2 and "link or a special file" in result.stderr
    assert (tmp_path / "link.npz").is_symlink() and (
        tmp_path / "target.npz"
    ).read_bytes() == b"keep"
    assert cli("spec", skops_model, "-o", "/dev/null", "--force").exit_code == 2
    monkeypatch.chdir(tmp_path)
    assert cli("export", skops_model, "-o", ".", "--format", "csv", "--force").exit_code == 2
    long_name = tmp_path / ("x" * 300 + ".npz")
    result = cli("export", skops_model, "-o", long_name)
    assert result.exit_code == 2 and "File name too long" in result.stderr


def put(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda p: p / "missing.h5", "no such file"),
        (lambda p: p, "a folder"),
        (lambda p: put(p / "text.h5", b"hello, not hdf5"), "not a model"),
        (lambda p: put(p / "empty.keras", b""), "empty"),
        (lambda p: put(p / "junk.npz", b"PK\x03\x04garbage"), "damaged zip"),
    ],
    ids=["missing", "directory", "text-named-h5", "empty", "truncated-zip"],
)
def test_bad_inputs_exit_3_with_one_line(tmp_path, cli, make, message):
    (tmp_path / "sub").mkdir()
    path = make(tmp_path / "sub")
    for command in (["inspect", path], ["export", path, "-o", tmp_path / "x.npz"]):
        result = cli(*command)
        assert result.exit_code == 3, result
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_usage_errors_exit_2(skops_model, tmp_path, cli):
    result = cli("export", skops_model, "-o", tmp_path / "w.xyz")
    assert result.exit_code == 2 and "--format" in result.stderr
    result = cli("export", skops_model, "-o", tmp_path / "w.npz", "--format", "parquet")
    assert result.exit_code == 2 and "registered: " in result.stderr
    result = cli("export", skops_model, "-o", tmp_path / "w.npz", "--format", "json")
    assert result.exit_code == 2 and "--format says json" in result.stderr
    result = cli("export", skops_model, "-o", tmp_path / "nowhere" / "w.npz")  # made, as mkdir -p
    assert result.exit_code == 0 and (tmp_path / "nowhere" / "w.npz").is_file()
    assert cli("export", skops_model).exit_code == 2  # missing -o, from Typer


def test_validate_refuses_a_non_export(skops_model, cli):
    result = cli("validate", skops_model)
    assert result.exit_code == 3 and "no exporter manifest" in result.stderr


def test_console_script_exit_codes_in_a_subprocess(skops_model, tmp_path):
    exe = [sys.executable, "-m", "exporter"]
    missing = subprocess.run(
        [*exe, "inspect", tmp_path / "nope.keras"], capture_output=True, text=True
    )
    assert missing.returncode == 3 and missing.stderr.startswith("exporter: error:")
    ok = subprocess.run(
        [*exe, "export", skops_model, "-o", tmp_path / "w.json"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    usage = subprocess.run([*exe, "diff", "a", "b", "--bogus"], capture_output=True, text=True)
    assert usage.returncode == 2
    assert usage.stderr.startswith("exporter: error: No such option: --bogus (see '")
    assert usage.stderr.endswith("exporter diff --help')\n") and usage.stderr.count("\n") == 1


def test_help_lists_commands_and_exit_codes(cli):
    result = cli("--help")
    for word in ("inspect", "export", "validate", "train", "Exit codes"):
        assert word in result.stdout


def test_a_batch_reports_every_source_and_exits_with_the_worst_code(skops_model, tmp_path, cli):
    damaged = put(tmp_path / "damaged.npz", b"PK\x03\x04garbage")
    out = tmp_path / "out"
    result = cli("export", skops_model, damaged, "-o", out, "--format", "npz")
    assert result.exit_code == 3, result
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"wrote {out / 'ridge.npz'}: 2 tensors, 4 parameters"
    assert lines[1].startswith("exporter: error: ") and "damaged zip" in lines[1]
    assert lines[2:] == ["1 of 2 exports failed"]
    assert exporter.validate(out / "ridge.npz").ok and not (out / "damaged.npz").exists()


def test_one_export_fails_as_export_does_with_its_traceback_on_debug(tmp_path, cli):
    missing = tmp_path / "missing.h5"
    plain = cli("export", missing, "-o", tmp_path / "x.npz")
    assert plain.exit_code == 3 and plain.stderr.startswith("exporter: error: "), plain
    assert len(plain.stderr.strip().splitlines()) == 1 and "exports failed" not in plain.stderr
    debug = cli("export", missing, "-o", tmp_path / "x.npz", "--debug")
    assert debug.exit_code == 3 and "Traceback" in debug.stderr, debug
    assert debug.stderr.strip().splitlines()[-1] == plain.stderr.strip()
