"""Every registered reader x every registered writer: read a real file of each kind, write it in
every format, read it back, and get the same names, dtypes and bytes. A reader or writer added
without a fixture here fails the suite."""

from __future__ import annotations

import shutil
from pathlib import Path

import hostile_trees as ht
import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

import exporter
from exporter.readers import readers
from exporter.writers import writers

WRITER_TARGETS = {"npz": "w.npz", "json": "w.json", "csv": "w-csv", "safetensors": "w.safetensors",
                  "c": "w.h"}  # fmt: skip


KERAS_FILES = Path(__file__).parent / "data" / "keras"  # written by tests/data/make_keras_files.py


def _keras_files(folder: Path) -> dict[str, Path]:
    """Small Keras 3 files made once by Keras itself (no TensorFlow needed to read them here)."""
    files = {"keras-v3": "m.keras", "keras-h5": "m.h5", "keras-weights-h5": "m.weights.h5"}
    for name in files.values():
        shutil.copyfile(KERAS_FILES / name, folder / name)
    return {kind: folder / name for kind, name in files.items()}


def _onnx_file(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], [weight],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), folder / "m.onnx")
    return folder / "m.onnx"


def _tflite_file(folder: Path) -> Path:
    from hostile_tflite import tflite_model  # a hand-made FlatBuffer: int8 weights with scales

    (folder / "m.tflite").write_bytes(tflite_model())
    return folder / "m.tflite"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("matrix")
    rng = np.random.default_rng(0)
    est = make_pipeline(StandardScaler(), SVR()).fit(rng.normal(size=(30, 4)), rng.normal(size=30))
    sio.dump(est, folder / "m.skops")
    joblib.dump(est, folder / "m.joblib")
    files = {
        "sklearn-skops": folder / "m.skops",
        "sklearn-pickle": folder / "m.joblib",
        "onnx": _onnx_file(folder),
        "tflite": _tflite_file(folder),
    }
    files.update(_keras_files(folder))
    files["xgboost-json"] = ht.xgb_file(ht.xgb_document)(folder)  # model.json, hand-written
    files["lightgbm-text"] = ht.lgb_file(ht.lgb_text())(folder)  # model.txt, hand-written
    files["xgboost-ubj"] = ht.ubj_file(ht.ubj(ht.xgb_document()))(folder)  # model.ubj
    files["catboost-json"] = ht.cb_file(ht.cb_document())(folder)  # catboost.json
    base = exporter.load(folder / "m.skops")
    for fmt, name in WRITER_TARGETS.items():
        files[fmt] = folder / f"export-{name}"
        exporter.export(base, files[fmt], format=fmt)
    return files


def test_every_reader_and_writer_has_a_fixture(sources):
    assert set(readers().names()) == set(sources)
    assert set(writers().names()) == set(WRITER_TARGETS)


@pytest.mark.parametrize("kind", sorted(readers().names()))
def test_reader_detects_its_kind(sources, kind):
    ws = exporter.load(sources[kind], trust=True)
    assert ws.info.kind == kind
    assert len(ws) > 0


@pytest.mark.parametrize("fmt", sorted(WRITER_TARGETS))
@pytest.mark.parametrize("kind", sorted(readers().names()))
def test_reader_writer_round_trip(sources, kind, fmt, tmp_path):
    ws = exporter.load(sources[kind], trust=True, config=str(sources["keras-v3"]))
    out = tmp_path / WRITER_TARGETS[fmt]
    exporter.export(ws, out, format=fmt)
    back = exporter.load(out)
    assert back.names() == ws.names()
    for tensor in ws:
        original, restored = tensor.read(), back[tensor.name].read()
        assert restored.dtype == original.dtype and restored.shape == original.shape
        assert restored.tobytes() == original.tobytes(), tensor.name
    assert exporter.validate(out).ok
