"""TFLite reading (issue 18) against TensorFlow's own interpreter.

Models are made by TensorFlow's converter (tf.lite.TFLiteConverter.from_keras_model) in every
quantization mode: none, dynamic range, float16 and full int8 with a representative dataset, for a
Dense net and a small CNN (per-channel int8 Conv2D and DepthwiseConv2D). They are exported by
exporter in a subprocess with TensorFlow blocked, and every exported tensor, scale and zero point
is compared with what `Interpreter.get_tensor_details()` / `get_tensor()` report; every constant
tensor the interpreter has (neither a graph input nor an operator's output) must be exported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import exporter

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
MODES = ("none", "dynamic", "float16", "int8")
MODELS = ("dense", "cnn", "lstm")


def _keras_model(kind: str):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    layers = tf.keras.layers
    if kind == "dense":  # 32x64 kernel: above the 1024 elements dynamic range quantizes
        return tf.keras.Sequential(
            [tf.keras.Input((32,)), layers.Dense(64, activation="relu"), layers.Dense(3)]
        )
    if kind == "lstm":  # unrolled: TFLite's converter does not keep Keras 3's LSTM loop
        return tf.keras.Sequential(
            [tf.keras.Input((5, 40)), layers.LSTM(32, unroll=True), layers.Dense(2)]
        )
    return tf.keras.Sequential(
        [
            tf.keras.Input((12, 12, 8)),
            layers.Conv2D(16, 3, activation="relu", bias_initializer="random_normal"),
            layers.DepthwiseConv2D(3, bias_initializer="random_normal"),
            layers.Flatten(),
            layers.Dense(4),
        ]
    )


def _convert(model, mode: str) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        rng = np.random.default_rng(0)
        shape = tuple(model.input_shape[1:])
        converter.representative_dataset = lambda: (
            [rng.standard_normal((1, *shape)).astype(np.float32)] for _ in range(16)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("tflite_models")
    found = {}
    for kind in MODELS:
        model = _keras_model(kind)
        for mode in MODES:
            path = folder / f"{kind}_{mode}.tflite"
            path.write_bytes(_convert(model, mode))
            found[kind, mode] = path
    return found


BLOCKED_EXPORT = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tflite_runtime",
                                      "ai_edge_litert", "tflite"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Block())
    import exporter
    for source in sys.argv[1:]:
        exporter.export(exporter.load(source), source + ".npz", format="npz")
    loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
    assert not loaded, loaded
    """
)


@pytest.fixture(scope="session")
def exported(models) -> dict[tuple[str, str], Path]:
    """Every model exported to NPZ by exporter with TensorFlow blocked."""
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_EXPORT, *map(str, models.values())],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return {key: Path(f"{path}.npz") for key, path in models.items()}


def _constants(interpreter) -> dict[str, dict]:
    """The interpreter's constant tensors by name: neither a graph input nor an op's output."""
    produced = {i for op in interpreter._get_ops_details() for i in op["outputs"]}
    produced |= {d["index"] for d in interpreter.get_input_details()}
    details = interpreter.get_tensor_details()
    names = [d["name"] for d in details]
    assert len(set(names)) == len(names), "the test relies on unique TFLite tensor names"
    return {d["name"]: d for d in details if d["index"] not in produced}


def _arrays(npz: Path) -> dict[str, np.ndarray]:
    with np.load(npz) as data:
        return {name: data[name] for name in data.files if name != "manifest.json"}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", MODELS)
def test_every_constant_equals_the_interpreter(models, exported, kind, mode):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(models[kind, mode]))
    interpreter.allocate_tensors()
    constants = _constants(interpreter)
    with zipfile.ZipFile(exported[kind, mode]) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    arrays = _arrays(exported[kind, mode])
    quantization = manifest["source"]["info"].get("quantization", {})
    assert manifest["source"]["kind"] == "tflite"
    parameters = {n for n in arrays if not n.endswith(("/scale", "/zero_point"))}
    assert parameters == set(constants)
    quantized = 0
    for name, detail in constants.items():
        expected = interpreter.get_tensor(detail["index"])
        assert _same(arrays[name], expected), name
        params = detail["quantization_parameters"]
        if not params["scales"].size:
            assert name not in quantization and f"{name}/scale" not in arrays
            continue
        quantized += 1
        entry = quantization[name]
        assert _same(arrays[entry["scale"]], params["scales"].astype(np.float32)), name
        assert arrays[entry["zero_point"]].dtype == np.int64
        assert np.array_equal(arrays[entry["zero_point"]], params["zero_points"]), name
        per_channel = params["scales"].size > 1
        assert entry["axis"] == (params["quantized_dimension"] if per_channel else None)
    if mode in ("dynamic", "int8"):
        assert quantized, "the quantized modes quantize some weights"
    if mode == "int8" and kind == "cnn":
        axes = {entry["axis"] for entry in quantization.values()}
        assert {0, 3} <= axes, "per-channel Conv2D (axis 0) and DepthwiseConv2D (axis 3)"


def _while_model(path: Path) -> Path:
    """A tf.while_loop: TFLite keeps it as a WHILE op with cond and body subgraphs."""
    import tensorflow as tf

    class Loop(tf.Module):
        def __init__(self):
            self.w = tf.Variable(tf.random.stateless_normal((4, 4), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec((1, 4), tf.float32)])
        def __call__(self, x):
            def body(i, x):
                return i + 1, tf.matmul(x, self.w) + tf.constant([1.0, 2.0, 3.0, 4.0])

            return tf.while_loop(lambda i, x: i < 3, body, (tf.constant(0), x))[1]

    loop = Loop()
    function = loop.__call__.get_concrete_function()
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([function], loop).convert())
    return path


def test_subgraphs_equal_the_interpreter(tmp_path):
    import tensorflow as tf

    path = _while_model(tmp_path / "while.tflite")
    ws = exporter.load(path)
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    names = ws.info.extra["subgraphs"]
    assert names[1:] == ["while_cond", "while_body"]
    compared = 0
    for s, subgraph in enumerate(names[1:], start=1):
        details = {d["name"]: d for d in interpreter.get_tensor_details(s)}
        for tensor in ws:
            if tensor.name.startswith(f"{subgraph}/"):
                detail = details[tensor.name.removeprefix(f"{subgraph}/")]
                assert _same(tensor.read(), interpreter.get_tensor(detail["index"], s))
                compared += 1
    assert compared >= 3  # the loop bound, the weight and the added constant


def test_dtypes_as_stored(exported):
    dtypes = {
        mode: {a.dtype.name for a in _arrays(exported["cnn", mode]).values()} for mode in MODES
    }
    assert "float16" in dtypes["float16"]
    assert "int8" in dtypes["dynamic"] and "int8" in dtypes["int8"]
    assert dtypes["none"] <= {"float32", "int32"}


def test_values_stay_lazy_and_are_views_of_the_file(models):
    ws = exporter.load(models["dense", "none"])
    kernel = next(t for t in ws if t.dtype == np.float32 and len(t.shape) == 2)
    assert callable(kernel.source)
    assert ws.info.kind == "tflite" and ws.info.extra["subgraphs"] == ["main"]
