"""Keras through its API: training the example, canonical names, bit-identity with get_weights()."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import exporter
from exporter.core import frameworks


@pytest.fixture(scope="module")
def keras():
    return frameworks.keras()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The default example trained once through the CLI (3 epochs), saved as .keras."""
    from typer.testing import CliRunner

    from exporter.cli.app import app

    folder = tmp_path_factory.mktemp("keras")
    result = CliRunner().invoke(
        app, ["train", "keras", "-o", str(folder / "m.keras"), "--epochs", "3"]
    )
    assert result.exit_code == 0, result.output
    return folder / "m.keras"


def get_weights_by_layer(model):
    return [w for layer in model.layers for w in layer.get_weights()]


def test_default_example_architecture_and_names(trained, keras):
    model = keras.models.load_model(trained)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 3
    assert [layer.units for layer in model.layers] == [64, 32, 1]
    assert model.input_shape == (None, 10)
    ws = exporter.load(trained)
    assert ws.names() == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
                          "dense_2/kernel", "dense_2/bias"]  # fmt: skip
    for tensor, expected in zip(ws, get_weights_by_layer(model), strict=True):
        assert tensor.read().tobytes() == expected.tobytes() and tensor.dtype == expected.dtype
    assert ws.info.framework == "keras" and ws.info.model_class == "Sequential"


def test_every_format_round_trips_the_trained_model(trained, keras, tmp_path):
    expected = get_weights_by_layer(keras.models.load_model(trained))
    for name in ("w.npz", "w.json", "w.safetensors"):
        exporter.export(trained, tmp_path / name)
        back = [t.read() for t in exporter.load(tmp_path / name)]
        assert all(a.tobytes() == b.tobytes() for a, b in zip(back, expected, strict=True))
    exporter.export(trained, tmp_path / "csv", format="csv")
    assert exporter.validate(tmp_path / "csv").ok


def test_same_seed_same_weights(tmp_path, cli):
    for name in ("a.keras", "b.keras"):
        assert (
            cli("train", "keras", "-o", tmp_path / name, "--epochs", "2", "--seed", "7").exit_code
            == 0
        )
    a, b = exporter.load(tmp_path / "a.keras"), exporter.load(tmp_path / "b.keras")
    assert all(x.read().tobytes() == y.read().tobytes() for x, y in zip(a, b, strict=True))
    assert a.names() == b.names() == [t.name for t in exporter.load(tmp_path / "a.keras")]
    assert a.names()[0] == "dense/kernel"  # however many models this process built before


def test_dataset_classifier_and_csv_data_with_h5_output(tmp_path, cli, keras):
    result = cli(
        "train", "keras", "--dataset", "iris", "--epochs", "1", "-o", tmp_path / "iris.keras"
    )
    assert result.exit_code == 0, result
    model = keras.models.load_model(tmp_path / "iris.keras")
    assert model.layers[-1].units == 3 and model.input_shape == (None, 4)
    rows = ["a,b,c,price"] + [f"{i},{i * 2},{i % 3},{i * 0.5}" for i in range(12)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    result = cli("train", "keras", "--data", tmp_path / "d.csv", "--target", "price", "--layers", "8",
                 "--epochs", "1", "-o", tmp_path / "d.h5")  # fmt: skip
    assert result.exit_code == 0, result
    model = keras.models.load_model(tmp_path / "d.h5")
    assert model.input_shape == (None, 3) and [layer.units for layer in model.layers] == [8, 1]


def test_train_usage_errors(tmp_path, cli):
    assert cli("train", "keras", "--layers", "64,x", "-o", tmp_path / "m.keras").exit_code == 2
    assert cli("train", "keras", "--dataset", "mnist", "-o", tmp_path / "m.keras").exit_code == 2
    assert cli("train", "keras", "-o", tmp_path / "m.onnx").exit_code == 2
    assert cli("train", "keras", "--activation", "nope", "-o", tmp_path / "m.keras").exit_code == 2


def test_nested_shared_frozen_names_follow_the_layer_tree(keras):
    inner = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.BatchNormalization(name="inner_bn"),
            keras.layers.Dense(4, name="inner_dense"),
        ],
        name="inner_seq",
    )
    shared = keras.layers.Dense(4, name="shared")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    frozen = keras.layers.Dense(2, name="frozen")
    frozen.trainable = False
    out = frozen(keras.layers.Add()([shared(inner(a)), shared(b)]))
    model = keras.Model([a, b], out, name="outer")
    ws = exporter.load(model)
    assert ws.names() == [
        "inner_seq/inner_bn/gamma", "inner_seq/inner_bn/beta", "inner_seq/inner_bn/moving_mean",
        "inner_seq/inner_bn/moving_variance", "inner_seq/inner_dense/kernel", "inner_seq/inner_dense/bias",
        "shared/kernel", "shared/bias", "frozen/kernel", "frozen/bias",
    ]  # fmt: skip
    assert [t.trainable for t in ws][2:4] == [False, False] and ws[
        "frozen/kernel"
    ].trainable is False
    expected = [v.numpy() for v in model.weights]
    assert all(t.read().tobytes() == e.tobytes() for t, e in zip(ws, expected, strict=True))


def test_via_keras_and_optimizer_state(trained):
    ws = exporter.load(trained, via="keras")
    assert ws.names()[0] == "dense/kernel"
    with_opt = exporter.load(trained, via="keras", include_optimizer=True)
    extra = [n for n in with_opt.names() if n.startswith("optimizer/")]
    assert extra and len(with_opt) == len(ws) + len(extra)


# ---- any Keras object, never an empty or incomplete export (issue #13) -----------------------


def _tower_class(keras):
    """A subclassed keras.Model defined here (its class's module is not keras's)."""

    class Tower(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.left, self.norm = (
                keras.layers.Dense(3, name="left"),
                keras.layers.BatchNormalization(name="batch_normalization"),  # not auto-named
            )

        def call(self, x):
            return self.norm(self.left(x))

    return Tower


def _values(ws) -> list[bytes]:
    return [t.read().tobytes() for t in ws]


def test_load_accepts_a_subclassed_model_from_any_module(keras):
    """Told by isinstance, not by the class's module: Keras's names, order and values."""
    model = _tower_class(keras)(name="tower")
    model(keras.ops.ones((2, 4)))
    assert type(model).__module__ == __name__
    ws = exporter.load(model)
    assert ws.names() == ["left/kernel", "left/bias", "batch_normalization/gamma",
                          "batch_normalization/beta", "batch_normalization/moving_mean",
                          "batch_normalization/moving_variance"]  # fmt: skip
    assert _values(ws) == [v.numpy().tobytes() for v in model.weights]
    assert ws.info.model_class == "Tower" and ws.info.framework == "keras"


def test_load_accepts_layers_as_the_root(keras):
    """A Layer that is no Model: its own variables by short name, sublayers by their path."""
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    ws = exporter.load(dense)
    assert ws.names() == ["kernel", "bias"]
    assert _values(ws) == [v.numpy().tobytes() for v in dense.weights]

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(2, name="inner")
            self.ffn = keras.Sequential([keras.layers.Dense(2, name="ff")], name="ffn")

        def call(self, x):
            return self.ffn(self.inner(x))

    block = Block(name="block")
    block(keras.ops.ones((1, 4)))
    ws = exporter.load(block)
    assert ws.names() == ["inner/kernel", "inner/bias", "ffn/ff/kernel", "ffn/ff/bias"]
    assert _values(ws) == [v.numpy().tobytes() for v in block.weights]


def test_a_class_named_like_keras_is_not_taken_for_keras():
    """Positive control for isinstance dispatch: an object whose class merely lives in a
    module called keras... is a usage error (exit 2), not read as a model (nor a crash)."""
    from exporter.core.errors import UsageError

    fake = type("Dense", (), {"__module__": "keras.layers", "name": "d", "weights": []})()
    with pytest.raises(UsageError, match=r"cannot read a keras\.layers\.Dense object") as caught:
        exporter.load(fake)
    assert caught.value.exit_code == 2


def test_unbuilt_models_and_layers_are_errors_not_empty_exports(keras, tmp_path):
    """Sequential without an input shape, a subclassed model never called, a layer never
    built, and build(input_shape) that could not build the sublayers: exit 3, "not built",
    no output written."""
    from exporter.core.errors import InputError

    class NoBuild(keras.Model):  # build() cannot run call(): Keras marks it built, empty
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2, name="dense")

        def call(self, x):
            raise RuntimeError("needs two inputs")

    half = NoBuild(name="half")
    with contextlib.suppress(Exception), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half.build((None, 3))
    assert half.built and not half.weights  # what made an empty export before
    objects = [
        keras.Sequential([keras.layers.Dense(3)]),
        _tower_class(keras)(name="never_called"),
        keras.layers.Dense(2),
        half,
    ]
    for model in objects:
        with pytest.raises(InputError, match="not built") as caught:
            exporter.export(model, tmp_path / "out.npz")
        assert caught.value.exit_code == 3 and model.name in str(caught.value)
        assert "\n" not in str(caught.value)
    assert "dense" in str(caught.value)  # names the layer that could not be read
    assert not list(tmp_path.iterdir())


def test_colliding_names_are_an_error_not_a_shorter_export(keras):
    """Two sublayers of one name would give the export fewer tensors than model.weights."""
    from exporter.core.errors import InputError

    class Twins(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.a, self.b = keras.layers.Dense(2, name="same"), keras.layers.Dense(2, name="same")

        def call(self, x):
            return self.a(x) + self.b(x)

    model = Twins(name="twins")
    model(keras.ops.ones((1, 2)))
    with pytest.raises(InputError, match="both get the name 'same/kernel'") as caught:
        exporter.load(model)
    assert caught.value.exit_code == 3


def test_load_accepts_tf_keras_objects():
    """tf-keras (Keras 2) models and layers, subclassed ones included, by isinstance."""
    from exporter.core.errors import InputError

    tf_keras = pytest.importorskip("tf_keras")

    class Small(tf_keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = tf_keras.layers.Dense(2, name="dense")

        def call(self, x):
            return self.dense(x)

    model = Small(name="small")
    model(np.ones((1, 3), dtype="float32"))
    ws = exporter.load(model)
    assert ws.names() == ["dense/kernel", "dense/bias"] and ws.info.framework == "tf-keras"
    assert _values(ws) == [v.numpy().tobytes() for v in model.weights]
    with pytest.raises(InputError, match="not built"):
        exporter.load(Small(name="unbuilt"))
