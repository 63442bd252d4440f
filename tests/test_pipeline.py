"""Pipeline features: diff, spec/check, store versions, batches, --json, reproducible bytes, make."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

import exporter

ROOT = Path(__file__).resolve().parents[1]


def save_ridge(path: Path, seed: int = 0, n: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    sio.dump(Ridge().fit(rng.normal(size=(20, n)), rng.normal(size=20)), path)
    return path


# ------------------------------------------------------------------ diff


def test_diff_equal_sources_of_different_kinds(tmp_path, cli):
    model = save_ridge(tmp_path / "m.skops")
    exporter.export(model, tmp_path / "m.json")
    result = cli("diff", model, tmp_path / "m.json")
    assert result.exit_code == 0, result
    assert "✓ equal: 2 tensors" in result.stderr


def test_diff_reports_every_kind_of_change(tmp_path, cli):
    a = exporter.WeightSet([
        exporter.Tensor.from_array("same", np.arange(4.0)),
        exporter.Tensor.from_array("values", np.array([1.0, 2.0, np.nan])),
        exporter.Tensor.from_array("shape", np.zeros((2, 3))),
        exporter.Tensor.from_array("dtype", np.zeros(3, np.float32)),
        exporter.Tensor.from_array("gone", np.zeros(1)),
    ])  # fmt: skip
    b = exporter.WeightSet([
        exporter.Tensor.from_array("same", np.arange(4.0)),
        exporter.Tensor.from_array("values", np.array([1.0, 2.5, np.nan])),
        exporter.Tensor.from_array("shape", np.zeros((3, 2))),
        exporter.Tensor.from_array("dtype", np.zeros(3, np.float64)),
        exporter.Tensor.from_array("new", np.zeros(1)),
    ])  # fmt: skip
    exporter.export(a, tmp_path / "a.npz")
    exporter.export(b, tmp_path / "b.npz")
    result = cli("diff", tmp_path / "a.npz", tmp_path / "b.npz", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["only_in_a"] == ["gone"] and report["only_in_b"] == ["new"]
    assert sorted(report["changed"]) == ["dtype", "shape", "values"]
    values = next(t for t in report["tensors"] if t["name"] == "values")
    assert (
        values["max_abs"] == 0.5
        and values["max_rel"] == pytest.approx(0.2)
        and values["differing"] == 1
    )
    assert "Traceback" not in result.stderr and "only in" in result.stderr
    from exporter.diff import diff

    loose = diff(a, b, atol=0.6)
    assert "values" not in [t.name for t in loose.changed]


def test_diff_int64_exact():
    from exporter.diff import compare_arrays

    big = np.array([2**62 + 1, 5], np.int64)
    assert compare_arrays(big, big, 0, 0)[2] == 0
    assert compare_arrays(big, big + np.array([1, 0]), 0, 0) == (
        1.0,
        pytest.approx(1 / (2**62 + 2)),
        1,
    )


# ------------------------------------------------------------------ spec / check


def test_spec_and_check(tmp_path, cli):
    model = save_ridge(tmp_path / "m.skops")
    assert cli("spec", model, "-o", tmp_path / "spec.json").exit_code == 0
    spec = json.loads((tmp_path / "spec.json").read_text())
    assert spec["tensors"] == [{"name": "coef_", "shape": [3], "dtype": "float64"},
                               {"name": "intercept_", "shape": [], "dtype": "float64"}]  # fmt: skip
    assert cli("check", model, "--spec", tmp_path / "spec.json").exit_code == 0
    other = save_ridge(tmp_path / "wide.skops", n=4)
    result = cli("check", other, "--spec", tmp_path / "spec.json", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["violations"] == [
        {"tensor": "coef_", "problem": "shape [4], spec says [3]"}
    ]
    spec["tensors"][0]["shape"] = [None]
    spec["tensors"].append({"name": "extra_", "shape": [], "dtype": "float32"})
    (tmp_path / "loose.json").write_text(json.dumps(spec))
    result = cli("check", other, "--spec", tmp_path / "loose.json")
    assert (
        result.exit_code == 1
        and "extra_: missing" in result.stderr
        and "coef_" not in result.stderr
    )


def test_check_against_an_export_manifest(tmp_path, cli):
    model = save_ridge(tmp_path / "m.skops")
    exporter.export(model, tmp_path / "csv", format="csv")
    assert cli("check", model, "--spec", tmp_path / "csv" / "manifest.json").exit_code == 0
    assert cli("check", model, "--spec", tmp_path / "csv").exit_code == 0
    scaler = tmp_path / "s.skops"
    sio.dump(StandardScaler().fit(np.ones((3, 3))), scaler)
    result = cli("check", scaler, "--spec", tmp_path / "csv")
    assert (
        result.exit_code == 1
        and "coef_: missing" in result.stderr
        and "mean_: not in the spec" in result.stderr
    )


def test_bad_spec_is_exit_3(tmp_path, cli):
    model = save_ridge(tmp_path / "m.skops")
    (tmp_path / "bad.json").write_text(
        '{"format": "exporter.spec", "format_version": "1.0.0", "tensors": [{}]}'
    )
    result = cli("check", model, "--spec", tmp_path / "bad.json")
    assert result.exit_code == 3 and "does not match spec-1.schema.json" in result.stderr


# ------------------------------------------------------------------ store


def test_store_versions_only_on_change(tmp_path, cli):
    model = save_ridge(tmp_path / "ridge.skops")
    store = tmp_path / "store"
    first = cli("export", model, "--store", store)
    assert first.exit_code == 0 and "new version v1" in first.stderr
    again = cli("export", model, "--store", store)
    assert again.exit_code == 0 and "unchanged, latest is v1" in again.stderr
    save_ridge(model, seed=1)
    assert "new version v2" in cli("export", model, "--store", store).stderr
    assert sorted(p.name for p in (store / "ridge").iterdir()) == [
        ".lock",
        "index.json",
        "v1",
        "v2",
    ]
    listing = json.loads(cli("versions", store / "ridge", "--json").stdout)
    assert [v["version"] for v in listing["versions"]] == [1, 2]
    assert listing["versions"][1]["path"] == "v2/weights.npz"
    assert exporter.validate(store / "ridge" / "v2" / "weights.npz").ok
    table = cli("versions", store / "ridge")
    assert table.exit_code == 0 and "v2" in table.stdout
    assert cli("versions", tmp_path).exit_code == 3


def test_store_json_format_and_name(tmp_path, cli):
    model = save_ridge(tmp_path / "ridge.skops")
    result = cli(
        "export", model, "--store", tmp_path / "s", "--format", "json", "--name", "prod-ridge"
    )
    assert result.exit_code == 0, result
    assert (tmp_path / "s" / "prod-ridge" / "v1" / "weights.json").is_file()
    assert cli("export", model, "--store", tmp_path / "s", "--name", "../evil").exit_code == 2


# ------------------------------------------------------------------ batches


def test_several_sources_with_jobs(tmp_path, cli):
    models = [save_ridge(tmp_path / f"m{i}.skops", seed=i) for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    result = cli("export", *models, "-o", out, "--format", "safetensors", "--jobs", "2")
    assert result.exit_code == 0, result
    assert sorted(p.name for p in out.iterdir()) == [
        "m0.safetensors",
        "m1.safetensors",
        "m2.safetensors",
    ]
    (tmp_path / "broken.skops").write_text("nope")
    result = cli("export", models[0], tmp_path / "broken.skops", "-o", out, "--format", "json")
    assert (
        result.exit_code == 3
        and "broken.skops" in result.stderr
        and "1 of 2 exports failed" in result.stderr
    )
    assert (out / "m0.json").is_file() and not (out / "broken.json").exists()
    assert cli("export", *models, "-o", tmp_path / "m.npz").exit_code == 2
    result = cli("export", *models, "-o", tmp_path / "new", "--format", "npz")
    assert result.exit_code == 0 and len(list((tmp_path / "new").iterdir())) == 3
    (tmp_path / "other").mkdir()
    twin = save_ridge(tmp_path / "other" / "m0.skops")
    result = cli("export", models[0], twin, "-o", tmp_path / "new2", "--format", "npz")
    assert result.exit_code == 2 and "m0.skops and " in result.stderr


# ------------------------------------------------------------------ reproducible bytes


def test_reproducible_bytes_in_different_folders_and_times(tmp_path, cli, monkeypatch):
    model = save_ridge(tmp_path / "m.skops")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    outputs = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(model, tmp_path / folder / "m.skops")  # a new file, a new mtime
        monkeypatch.chdir(tmp_path / folder)
        for out in ("w.npz", "w.json", "w.safetensors", "w-csv"):
            assert (
                cli("export", "m.skops", "-o", out, "--format", out[2:].lstrip("-")).exit_code == 0
            )
        outputs.append(tree_bytes(tmp_path / folder, exclude="m.skops"))
        time.sleep(1.1)  # the second export runs at another wall-clock second
    assert outputs[0] == outputs[1] and len(outputs[0]) == 6
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1600000000"}
    stamped = tmp_path / "stamped.json"
    subprocess.run(
        [sys.executable, "-m", "exporter", "export", model, "-o", stamped], env=env, check=True
    )
    assert json.loads(stamped.read_text())["manifest"]["created_at"] == "2020-09-13T12:26:40Z"


def tree_bytes(folder: Path, exclude: str) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != exclude}  # fmt: skip


# ------------------------------------------------------------------ --json


def test_json_commands_print_one_document_on_stdout(tmp_path, cli):
    model = save_ridge(tmp_path / "m.skops")
    exporter.export(model, tmp_path / "m.npz")
    for args in (
        ("inspect", model),
        ("validate", tmp_path / "m.npz"),
        ("diff", model, tmp_path / "m.npz"),
    ):
        result = cli(*args, "--json")
        assert result.exit_code == 0, result
        json.loads(result.stdout)


# ------------------------------------------------------------------ make pattern rules


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_pattern_rules_in_parallel(tmp_path):
    models, weights = tmp_path / "models", tmp_path / "weights"
    models.mkdir()
    for i, name in enumerate(("alpha", "beta", "gamma")):
        save_ridge(models / f"{name}.skops", seed=i)
    targets = [
        "weights/alpha.npz",
        "weights/beta.json",
        "weights/gamma.csv",
        "weights/alpha.safetensors",
    ]
    exe = Path(sys.executable).with_name("exporter")
    args = ["make", "-s", "-j2", "-C", str(ROOT), f"MODELS_DIR={models}", f"WEIGHTS_DIR={weights}",
            f"EXPORTER={exe}", "EXPORTER_DEP="]  # fmt: skip
    run = subprocess.run(
        [*args, *[str(tmp_path / t) for t in targets]], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    for target in targets:
        assert exporter.validate(tmp_path / target).ok
    before = (weights / "alpha.npz").stat().st_mtime_ns
    again = subprocess.run([*args, str(weights / "alpha.npz")], capture_output=True, text=True)
    assert again.returncode == 0 and (weights / "alpha.npz").stat().st_mtime_ns == before
    os.utime(models / "alpha.skops")  # the model changed: rebuilt
    subprocess.run([*args, str(weights / "alpha.npz")], check=True, capture_output=True)
    assert (weights / "alpha.npz").stat().st_mtime_ns != before
    assert not [p for p in weights.rglob("*") if ".tmp" in p.name]


# ------------------------------------------------------------------ edited exports, failed writes


def edited_export(tmp_path: Path) -> tuple[Path, Path]:
    model = save_ridge(tmp_path / "m.skops")
    exporter.export(model, tmp_path / "w.json")
    document = json.loads((tmp_path / "w.json").read_text())
    document["data"]["coef_"][0] += 1.0  # the manifest's sha256 no longer describes the data
    (tmp_path / "edited.json").write_text(json.dumps(document))
    return tmp_path / "w.json", tmp_path / "edited.json"


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "json", "csv"])
def test_an_edited_export_exports_with_a_warning(tmp_path, cli, fmt):
    _, edited = edited_export(tmp_path)
    result = cli("export", edited, "-o", tmp_path / f"out.{fmt}", "--format", fmt)
    assert result.exit_code == 0, result
    assert "does not match" in result.stderr
    assert exporter.validate(tmp_path / f"out.{fmt}").ok
    assert cli("diff", edited, tmp_path / f"out.{fmt}").exit_code == 0


def test_store_hashes_the_data_not_the_manifest_claims(tmp_path, cli):
    original, edited = edited_export(tmp_path)
    assert (
        "new version v1" in cli("export", original, "--store", tmp_path / "s", "--name", "m").stderr
    )
    result = cli("export", edited, "--store", tmp_path / "s", "--name", "m")
    assert result.exit_code == 0 and "new version v2" in result.stderr
    assert str(edited) in result.stderr  # the source path, not the index's source record


def test_a_failed_store_write_leaves_no_version_behind(tmp_path, cli):
    from exporter.store import store_export

    ws = exporter.load(save_ridge(tmp_path / "m.skops"))

    def broken(path: Path) -> dict:
        path.write_bytes(b"half")
        raise exporter.InputError("disk full")

    with pytest.raises(exporter.InputError):
        store_export(ws, tmp_path / "s", "m", "weights.npz", broken)
    assert sorted(p.name for p in (tmp_path / "s" / "m").iterdir()) == [".lock"]
    (tmp_path / "s" / "m" / "v1").mkdir()  # a stray folder from an older, killed run
    result = cli("export", tmp_path / "m.skops", "--store", tmp_path / "s", "--name", "m")
    assert result.exit_code == 0 and "new version v2" in result.stderr


def test_exact_diff_is_bit_for_bit():
    from exporter.diff import diff

    def ws(values):
        return exporter.WeightSet([exporter.Tensor.from_array("t", np.array(values, np.float32))])

    payload = np.array([0x7FC00001], np.uint32).view(np.float32)[0]
    assert diff(ws([0.0, np.nan]), ws([0.0, np.nan])).ok
    assert not diff(ws([0.0, 1.0]), ws([-0.0, 1.0])).ok
    assert not diff(ws([np.nan]), ws([payload])).ok
    assert diff(ws([0.0, np.nan]), ws([-0.0, payload]), atol=1e-9).ok  # a tolerance compares values


def test_read_warnings_of_an_earlier_file_are_not_inherited(tmp_path, cli):
    _, edited = edited_export(tmp_path)
    assert "does not match" in cli("export", edited, "-o", tmp_path / "e2.npz").stderr
    assert exporter.validate(tmp_path / "e2.npz").ok
    result = cli("export", tmp_path / "e2.npz", "-o", tmp_path / "e3.json")
    assert result.exit_code == 0 and "warning:" not in result.stderr
    record = exporter.load(tmp_path / "e3.json").info.extra["exported_from"]
    assert record["kind"] == "npz"
    assert (
        "does not match"
        in exporter.load(tmp_path / "e2.npz").info.extra["exported_from"]["warnings"][0]
    )
