"""--custom-objects MODULE: the user's own registered Keras classes load (an explicit act of trust
in that module only); without it the refusal says what to do; a class still missing is named."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("exporter"))
LAYERS = textwrap.dedent(
    """
    import keras

    @keras.saving.register_keras_serializable(package="mylayers")
    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w
    """
)
MAKE = textwrap.dedent(
    """
    import sys, keras, mylayers
    model = keras.Sequential([keras.Input((3,)), mylayers.Scale(name="scale"),
                              keras.layers.Dense(2, name="d")])
    model.save(sys.argv[1])
    """
)


@pytest.fixture(scope="module")
def custom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("custom")
    (folder / "mylayers.py").write_text(LAYERS)
    env = {**os.environ, "PYTHONPATH": str(folder), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", MAKE, str(folder / "m.keras")], check=True, env=env)
    return folder


def _run(folder: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd or folder)


def test_without_the_option_the_refusal_says_what_to_do(custom):
    done = _run(custom, "convert", "m.keras", "-o", "m.onnx")
    assert done.returncode == 3, done.stderr
    assert "--custom-objects MODULE" in done.stderr and not (custom / "m.onnx").exists()


@pytest.mark.parametrize("given", ["mylayers", "mylayers.py"])
def test_the_users_module_makes_the_model_load_and_convert(custom, tmp_path, given):
    out = tmp_path / "m.onnx"
    done = _run(custom, "convert", "m.keras", "-o", str(out), "--custom-objects", given)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and "every output matches" in done.stderr


def test_a_module_without_the_class_names_the_missing_class(custom, tmp_path):
    (tmp_path / "mylayers.py").write_text("x = 1\n")  # same name, no Scale in it
    done = _run(custom, "convert", str(custom / "m.keras"), "-o", "m.onnx",
                "--custom-objects", "mylayers", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "Scale (mylayers>Scale) is not registered" in done.stderr


def test_only_the_named_module_is_trusted(custom, tmp_path):
    """A config naming another module is still refused, and that module never runs."""
    marker = tmp_path / "ran"
    (tmp_path / "other.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "mylayers.py").write_text(LAYERS)
    import zipfile

    evil = tmp_path / "evil.keras"
    with zipfile.ZipFile(custom / "m.keras") as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "config.json":
                data = data.replace(b'"module": "mylayers"', b'"module": "other"')
            dst.writestr(info, data)
    done = _run(tmp_path, "convert", "evil.keras", "-o", "e.onnx", "--custom-objects", "mylayers")
    assert done.returncode == 3 and "'other'" in done.stderr, done.stderr
    assert not marker.exists() and not (tmp_path / "e.onnx").exists()
    positive = _run(tmp_path, "convert", str(custom / "m.keras"), "-o", "p.onnx",
                    "--custom-objects", "mylayers")  # fmt: skip
    assert positive.returncode == 0, positive.stderr


def test_a_bad_module_name_is_a_usage_error(custom):
    done = _run(custom, "inspect", "m.keras", "--custom-objects", "not a module")
    assert done.returncode == 2 and "--custom-objects" in done.stderr


def test_the_current_folder_is_searched_for_the_named_module_only(tmp_path):
    """A module beside the user's must not shadow a library imported later (./orjson.py)."""
    import numpy as np

    import exporter

    ws = exporter.WeightSet()
    ws.add(exporter.Tensor.from_array("w", np.arange(3, dtype=np.float32)))
    exporter.export(ws, tmp_path / "a.npz")
    marker = tmp_path / "hijacked"
    (tmp_path / "orjson.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "mine.py").write_text("x = 1\n")
    done = _run(tmp_path, "show", "a.npz", "w", "-f", "json", "--custom-objects", "mine")
    assert done.returncode == 0, done.stderr
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "text"),
    [("broken.py", "def f(:\n"), ("boom.py", "raise RuntimeError('no')\n"), ("json.py", "X = 1\n")],
)
def test_a_module_that_cannot_be_imported_is_a_usage_error(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    done = _run(tmp_path, "inspect", "x.npz", "--custom-objects", name)
    assert done.returncode == 2, done.stderr
    assert "--custom-objects" in done.stderr and "internal error" not in done.stderr


def test_batch_workers_import_the_custom_modules_too(custom, tmp_path):
    import shutil

    for i in (1, 2):
        shutil.copyfile(custom / "m.keras", tmp_path / f"m{i}.keras")
    shutil.copyfile(custom / "mylayers.py", tmp_path / "mylayers.py")
    done = _run(tmp_path, "export", "m1.keras", "m2.keras", "-o", "out", "--format", "npz",
                "--via", "keras", "--custom-objects", "mylayers", "--jobs", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m1.npz", "m2.npz"]
