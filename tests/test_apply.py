"""exporter apply: weights from any export back into a Keras model, by canonical name."""

from __future__ import annotations

import json

import numpy as np
import pytest

import exporter
from exporter.core import frameworks


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    keras = frameworks.keras()
    folder = tmp_path_factory.mktemp("apply")
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, name="dense"), keras.layers.BatchNormalization(name="bn"),
         keras.layers.Dense(1, name="out")],
        name="m",
    )  # fmt: skip
    model.save(folder / "m.keras")
    return folder / "m.keras"


def test_export_change_apply_export_shows_exactly_that_change(model_file, tmp_path, cli):
    exporter.export(model_file, tmp_path / "w.json")
    document = json.loads((tmp_path / "w.json").read_text())
    document["data"]["dense/kernel"][2][3] = 0.125
    # an edited export: its manifest hash no longer matches, which apply does not need
    document["manifest"]["tensors"][0]["sha256"] = "0" * 64
    (tmp_path / "edited.json").write_text(json.dumps(document))
    result = cli("apply", tmp_path / "edited.json", model_file, "-o", tmp_path / "new.keras")
    assert result.exit_code == 0, result
    result = cli("diff", model_file, tmp_path / "new.keras", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert (
        report["changed"] == ["dense/kernel"]
        and not report["only_in_a"]
        and not report["only_in_b"]
    )
    (changed,) = [t for t in report["tensors"] if t["name"] == "dense/kernel"]
    assert changed["differing"] == 1
    new = exporter.load(tmp_path / "new.keras")["dense/kernel"].read()
    assert new[2, 3] == np.float32(0.125)


def test_apply_to_h5_and_from_safetensors(model_file, tmp_path, cli):
    exporter.export(model_file, tmp_path / "w.safetensors")
    assert (
        cli("apply", tmp_path / "w.safetensors", model_file, "-o", tmp_path / "same.h5").exit_code
        == 0
    )
    assert cli("diff", model_file, tmp_path / "same.h5").exit_code == 0


def test_mismatches_are_errors_not_skips(model_file, tmp_path, cli):
    ws = exporter.load(model_file)
    arrays = ws.arrays()
    arrays["dense/kernel"] = np.zeros((5, 3), np.float32)
    arrays.pop("bn/gamma")
    arrays["stray/kernel"] = np.zeros(2, np.float32)
    bad = exporter.WeightSet([exporter.Tensor.from_array(n, a) for n, a in arrays.items()])
    exporter.export(bad, tmp_path / "bad.npz")
    result = cli("apply", tmp_path / "bad.npz", model_file, "-o", tmp_path / "x.keras")
    assert result.exit_code == 3
    for text in (
        "dense/kernel: shape [5, 3], model needs [5, 4]",
        "bn/gamma: missing",
        "stray/kernel: not a variable",
    ):
        assert text in result.stderr
    assert not (tmp_path / "x.keras").exists()
    result = cli("apply", tmp_path / "bad.npz", model_file, "-o", tmp_path / "x.onnx")
    assert result.exit_code == 2


def test_apply_checks_the_model_file_before_keras_opens_it(model_file, tmp_path, cli):
    import h5py

    exporter.export(model_file, tmp_path / "w.npz")
    keras = frameworks.keras()
    keras.models.load_model(model_file).save(tmp_path / "linked.h5")
    with h5py.File(tmp_path / "linked.h5", "a") as f:
        f["model_weights/sneaky"] = h5py.SoftLink("/model_weights/dense")
    result = cli("apply", tmp_path / "w.npz", tmp_path / "linked.h5", "-o", tmp_path / "x.keras")
    assert result.exit_code == 3 and "soft link" in result.stderr
    assert not (tmp_path / "x.keras").exists()


def test_diff_and_check_a_weights_h5_by_canonical_name_with_config(model_file, tmp_path, cli):
    keras = frameworks.keras()
    keras.models.load_model(model_file).save_weights(tmp_path / "m.weights.h5")
    bare = tmp_path / "m.weights.h5"
    assert cli("diff", bare, model_file).exit_code == 1  # positional names: nothing matches
    assert cli("diff", bare, model_file, "--config", model_file).exit_code == 0
    assert cli("spec", model_file, "-o", tmp_path / "spec.json").exit_code == 0
    assert (
        cli("check", bare, "--spec", tmp_path / "spec.json", "--config", model_file).exit_code == 0
    )


def test_a_config_of_another_model_is_refused(model_file, tmp_path, cli):
    keras = frameworks.keras()
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="other")], name="o")
    other.save_weights(tmp_path / "other.weights.h5")
    result = cli("inspect", tmp_path / "other.weights.h5", "--config", model_file)
    assert result.exit_code == 3 and "describes another model" in result.stderr
