"""Keras files read directly (h5py/zipfile/numpy): every layout equals Keras's own answer.

Models are built with Keras 3 and tf-keras, saved in every layout, read back with exporter and
compared with `keras_api.weightset_from_model` on the same in-memory model: names, order,
dtypes, shapes and bit-identical values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import h5py
import keras_models as km
import ml_dtypes
import numpy as np
import pytest

from exporter.core.errors import InputError, UnsafeInputError
from exporter.models.keras.api import weightset_from_model
from exporter.readers import ReadOptions, read_path

ROOT = Path(__file__).resolve().parents[1]
# FORMATS.md: layers of a Sequential model carry the model's name scope in their weight names
KERNEL = "model_weights/hidden/dense_model/hidden/kernel"


def keras3():
    from exporter.core import frameworks

    return frameworks.keras()


def tf_keras():
    keras3()  # quiet TensorFlow first
    return pytest.importorskip("tf_keras")


def reference(model, **kw):
    """Names, dtypes, values and trainable flags as Keras gives them."""
    ws = weightset_from_model(model, **kw)
    return [(t.name, t.dtype, t.read(), t.trainable) for t in ws]


def assert_same(ws, expected, *, trainable=True):
    got = [(t.name, t.dtype, t.read(), t.trainable) for t in ws]
    assert [g[0] for g in got] == [e[0] for e in expected]
    for (name, dtype, values, flag), (_, want_dtype, want, want_flag) in zip(
        got, expected, strict=True
    ):
        assert dtype == want_dtype, name
        assert values.shape == want.shape, name
        assert values.tobytes() == want.tobytes(), f"{name}: values differ"
        if trainable:
            assert flag == want_flag, name


def save_all(model, folder: Path, stem: str, framework: str) -> dict[str, Path]:
    """Save model in every layout its Keras writes; returns layout -> path."""
    paths = {
        "h5": folder / f"{stem}.h5",
        "keras": folder / f"{stem}.keras",
        "weights": folder / f"{stem}.weights.h5",
    }
    model.save(paths["h5"])
    model.save(paths["keras"])
    model.save_weights(paths["weights"])
    if framework == "tf-keras":
        paths["save_weights_h5"] = folder / f"{stem}_sw.h5"
        model.save_weights(paths["save_weights_h5"])
    return paths


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """(framework, architecture) -> (reference, {layout: path}) for every small model."""
    folder = tmp_path_factory.mktemp("keras_files")
    found = {}
    for framework, module in (("keras", keras3()), ("tf-keras", tf_keras())):
        for arch, build in km.SMALL.items():
            model = km.randomize(build(module))
            paths = save_all(model, folder, f"{framework}_{arch}", framework)
            found[framework, arch] = (reference(model), paths)
    return found


SMALL_CASES = [(f, a) for f in ("keras", "tf-keras") for a in km.SMALL]


@pytest.mark.parametrize(("framework", "arch"), SMALL_CASES)
def test_every_layout_equals_keras(small, framework, arch):
    expected, paths = small[framework, arch]
    keras_file = paths["keras"]
    for layout, path in paths.items():
        config = str(keras_file) if layout == "weights" else None
        ws = read_path(path, ReadOptions(config=config))
        kind = {"keras": "keras-v3", "weights": "keras-weights-h5"}.get(layout, "keras-h5")
        assert ws.info.kind == kind, layout
        assert ws.info.framework == framework, layout
        assert ws.info.naming == "canonical"
        # tf-keras variables of a frozen layer keep trainable=True, so flags are compared for
        # Keras 3 (layout C has no config to know them at all).
        if layout == "save_weights_h5" and arch == "nested":
            # no config: the file's trainable-first order cannot be undone, and it says so
            assert sorted(ws.names()) == sorted(e[0] for e in expected)
            assert ws.info.warnings
            continue
        assert_same(ws, expected, trainable=framework == "keras")
        assert not ws.info.warnings, (layout, ws.info.warnings)


def test_legacy_h5_model_info(small):
    _, paths = small["keras", "nested"]
    ws = read_path(paths["h5"])
    assert (ws.info.model_name, ws.info.model_class) == ("outer", "Functional")
    assert ws.info.framework_version.startswith("3.")
    assert ws.info.file == paths["h5"].name
    from exporter.files.hashing import file_sha256

    assert ws.info.sha256 == file_sha256(paths["h5"])


def test_save_weights_h5_without_config_warns_about_nested_order(small):
    expected, paths = small["tf-keras", "nested"]
    ws = read_path(paths["save_weights_h5"])
    assert sorted(ws.names()) == sorted(e[0] for e in expected)
    assert [n.code for n in ws.info.notes()] == ["keras-file-order"]
    assert "inner_seq" in ws.info.warnings[0]
    fixed = read_path(paths["save_weights_h5"], ReadOptions(config=str(paths["h5"])))
    assert_same(fixed, expected, trainable=False)
    assert not fixed.info.warnings


@pytest.mark.parametrize("config_from", ["keras", "h5", "config.json"])
def test_weights_h5_config_sources(small, tmp_path, config_from):
    expected, paths = small["keras", "nested"]
    if config_from == "config.json":
        config = tmp_path / "config.json"
        with zipfile.ZipFile(paths["keras"]) as archive:
            config.write_bytes(archive.read("config.json"))
    else:
        config = paths[config_from]
    assert_same(read_path(paths["weights"], ReadOptions(config=str(config))), expected)


def test_weights_h5_without_config_is_positional(small):
    expected, paths = small["keras", "nested"]
    ws = read_path(paths["weights"])
    assert ws.info.naming == "positional"
    assert ws.info.notes()[0].code == "keras-positional-names"
    assert "--config" in ws.info.warnings[0]
    assert "layers/dense/vars/0" in ws.names()  # group names are class names
    assert "layers/sequential/layers/batch_normalization/vars/3" in ws.names()
    by_name = {e[0]: e[2] for e in expected}
    assert np.array_equal(ws["layers/dense/vars/0"].read(), by_name["shared/kernel"])
    assert np.array_equal(ws["layers/dense_1/vars/1"].read(), by_name["frozen_d/bias"])
    assert not any(name.startswith(("shared", "frozen_d", "out")) for name in ws.names())


def test_weights_h5_layer_name_attr_is_checked_against_the_config(small, tmp_path):
    """Keras 3.15 stores the layer name in attr `name` of each vars group: a config whose
    layer names differ is the config of another model, refused rather than misapplied."""
    _, paths = small["keras", "nested"]
    with h5py.File(paths["weights"]) as handle:
        assert handle["layers/dense/vars"].attrs["name"] == "shared"
    copy = tmp_path / "renamed.weights.h5"
    shutil.copy(paths["weights"], copy)
    with h5py.File(copy, "r+") as handle:
        handle["layers/dense/vars"].attrs["name"] = "renamed"
    with pytest.raises(InputError, match="config 'shared', file 'renamed'"):
        read_path(copy, ReadOptions(config=str(paths["keras"])))


# ---- big models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_big")
    keras = keras3()
    found = {}
    for arch, build in km.BIG.items():
        model = build(keras)
        paths = {"h5": folder / f"{arch}.h5", "keras": folder / f"{arch}.keras"}
        model.save(paths["h5"])
        model.save(paths["keras"])
        if arch != "resnet50":
            paths["weights"] = folder / f"{arch}.weights.h5"
            model.save_weights(paths["weights"])
        found[arch] = (reference(model), paths)
    tk = tf_keras()
    model = km.mobilenet_v2(tk)
    found["tf-keras mobilenet_v2"] = (reference(model), {"h5": folder / "tk_mobilenet_v2.h5"})
    model.save(found["tf-keras mobilenet_v2"][1]["h5"])
    return found


@pytest.mark.parametrize("arch", [*km.BIG, "tf-keras mobilenet_v2"])
def test_applications_equal_keras(big, arch):
    expected, paths = big[arch]
    for layout, path in paths.items():
        config = str(paths["keras"]) if layout == "weights" else None
        ws = read_path(path, ReadOptions(config=config))
        assert_same(ws, expected)
        assert not ws.info.warnings, ws.info.warnings


# ---- optimizer, dtypes, split attributes ---------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras_trained")
    found = {}
    for framework, module in (("keras", keras3()), ("tf-keras", tf_keras())):
        model = km.nested(module)
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        paths = {"h5": folder / f"{framework}.h5", "keras": folder / f"{framework}.keras"}
        model.save(paths["h5"])
        model.save(paths["keras"])
        found[framework] = (reference(model), reference(model, include_optimizer=True), paths)
    return found


@pytest.mark.parametrize("framework", ["keras", "tf-keras"])
def test_optimizer_state_only_when_asked(trained, framework):
    expected, with_optimizer, paths = trained[framework]
    optimizer = with_optimizer[len(expected) :]
    assert optimizer
    flags = framework == "keras"  # tf-keras keeps trainable=True on a frozen layer's variables
    for layout, path in paths.items():
        assert_same(read_path(path), expected, trainable=flags)
        ws = read_path(path, ReadOptions(include_optimizer=True))
        assert_same(ws.__class__(list(ws)[: len(expected)], ws.info), expected, trainable=flags)
        extra = list(ws)[len(expected) :]
        if layout == "h5":
            assert [t.name for t in extra] == [e[0] for e in optimizer]
        else:
            assert [t.name for t in extra] == [f"optimizer/vars/{i}" for i in range(len(extra))]
            assert "keras-optimizer-positional" in [n.code for n in ws.info.notes()]
        for tensor, (_, dtype, values, _) in zip(extra, optimizer, strict=True):
            assert tensor.dtype == dtype
            assert tensor.read().tobytes() == values.tobytes(), tensor.name


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_keeps_its_dtype(tmp_path, dtype):
    model = km.randomize(km.dense(keras3(), dtype=dtype))
    expected = reference(model)
    want = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(np.float16)
    assert expected[0][1] == want
    paths = save_all(model, tmp_path, dtype, "keras")
    if dtype == "bfloat16":
        with h5py.File(paths["h5"]) as handle:  # FORMATS.md: opaque |V2 in legacy .h5
            assert handle[KERNEL].dtype.kind == "V"
    for layout, path in paths.items():
        config = str(paths["keras"]) if layout == "weights" else None
        ws = read_path(path, ReadOptions(config=config))
        assert all(t.dtype == want for t in ws), layout
        assert_same(ws, expected)


def test_layer_names_split_over_several_attributes(small, tmp_path):
    expected, paths = small["keras", "conv_bn"]
    copy = tmp_path / "split.h5"
    shutil.copy(paths["h5"], copy)
    with h5py.File(copy, "r+") as handle:
        group = handle["model_weights"]
        names = group.attrs["layer_names"]
        del group.attrs["layer_names"]
        group.attrs["layer_names0"] = names[:3]
        group.attrs["layer_names1"] = names[3:]
    assert_same(read_path(copy), expected)


def test_real_split_layer_names(tmp_path):
    """Keras itself splits layer_names of a model with very many layers."""
    model = km.many_layers(keras3(), count=560)
    path = tmp_path / "many.h5"
    model.save(path)
    with h5py.File(path) as handle:
        assert "layer_names0" in handle["model_weights"].attrs
    assert_same(read_path(path), reference(model))


# ---- config edge cases: Lambda, unknown classes -------------------------------------------


def test_lambda_layer_is_read_not_run(tmp_path):
    keras = keras3()
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, name="dense"),
            keras.layers.Lambda(lambda x: x * 2, name="lambda"),
        ]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(UnsafeInputError, match=r"Lambda layer lambda.*--trust"):
        read_path(path)
    ws = read_path(path, ReadOptions(trust=True))
    assert ws.names() == ["dense/kernel", "dense/bias"]
    assert ws.info.extra["lambda_layers"] == ["lambda"]
    assert [n.code for n in ws.info.notes()] == ["keras-lambda-layers"]
    assert "Lambda" in ws.info.warnings[0]


def test_unknown_layer_class_gets_positional_names(tmp_path):
    keras = keras3()

    @keras.saving.register_keras_serializable(package="exporter_tests")
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.factor = self.add_weight(shape=(input_shape[-1],), name="factor")
            self.offset = self.add_weight(shape=(), name="offset")

        def call(self, x):
            return x * self.factor + self.offset

    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, name="dense"), Scale(name="scale")]
    )
    path = tmp_path / "custom.keras"
    model.save(path)
    ws = read_path(path)
    assert ws.names() == ["dense/kernel", "dense/bias", "scale/var0", "scale/var1"]
    assert [n.code for n in ws.info.notes()] == ["keras-unknown-class"]
    assert "Scale" in ws.info.warnings[0]
    assert ws["scale/var0"].read().tobytes() == model.layers[1].factor.numpy().tobytes()


# ---- detection and laziness --------------------------------------------------------------


def test_detection_is_by_content(small, tmp_path):
    _, paths = small["keras", "dense"]
    weights_named_h5 = tmp_path / "looks_legacy.h5"
    shutil.copy(paths["weights"], weights_named_h5)
    assert read_path(weights_named_h5).info.kind == "keras-weights-h5"
    legacy_named_weights = tmp_path / "looks_new.weights.h5"
    shutil.copy(paths["h5"], legacy_named_weights)
    assert read_path(legacy_named_weights).info.kind == "keras-h5"
    keras_as_zip = tmp_path / "model.zip"
    shutil.copy(paths["keras"], keras_as_zip)
    assert read_path(keras_as_zip).info.kind == "keras-v3"
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["x"] = np.ones(3)
    with pytest.raises(InputError, match="not a model"):
        read_path(plain)


def test_tensors_are_lazy_and_files_close(small):
    import gc
    import inspect
    import weakref

    _, paths = small["keras", "conv_bn"]
    ws = read_path(paths["keras"])
    first = next(iter(ws))
    assert callable(first.source)
    cells = [c.cell_contents for c in inspect.unwrap(first.source).__closure__]
    handle = next(c for c in cells if hasattr(c, "file"))
    ref = weakref.ref(handle)
    h5 = handle.file
    assert h5.id.valid
    del ws, first, handle, cells
    gc.collect()
    assert ref() is None
    assert not h5.id.valid


# ---- safety -----------------------------------------------------------------------------------


def _copy(paths, tmp_path, name):
    copy = tmp_path / name
    shutil.copy(paths["h5"], copy)
    return copy


def test_refuses_soft_and_external_links(small, tmp_path):
    _, paths = small["keras", "dense"]
    soft = _copy(paths, tmp_path, "soft.h5")
    with h5py.File(soft, "r+") as handle:
        handle["model_weights/extra"] = h5py.SoftLink("/model_weights/hidden")
    with pytest.raises(UnsafeInputError, match="soft link"):
        read_path(soft)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as handle:
        handle["secret"] = np.arange(3.0)
    external = _copy(paths, tmp_path, "external.h5")
    with h5py.File(external, "r+") as handle:
        del handle[KERNEL]
        handle[KERNEL] = h5py.ExternalLink(str(other), "/secret")
    with pytest.raises(UnsafeInputError, match="external link"):
        read_path(external)


def test_refuses_external_storage_and_virtual_datasets(small, tmp_path):
    _, paths = small["keras", "dense"]
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(32, dtype=np.float32).tobytes())
    stored = _copy(paths, tmp_path, "stored.h5")
    with h5py.File(stored, "r+") as handle:
        del handle[KERNEL]
        handle.create_dataset(KERNEL, (4, 8), "f4", external=[(str(raw), 0, 128)])
    with pytest.raises(UnsafeInputError, match="external file"):
        read_path(stored)
    virtual = _copy(paths, tmp_path, "virtual.h5")
    other = tmp_path / "source.h5"
    with h5py.File(other, "w") as handle:
        handle["data"] = np.zeros((4, 8), "f4")
    with h5py.File(virtual, "r+") as handle:
        del handle[KERNEL]
        layout = h5py.VirtualLayout((4, 8), "f4")
        layout[:] = h5py.VirtualSource(str(other), "data", (4, 8))
        handle.create_virtual_dataset(KERNEL, layout)
    with pytest.raises(UnsafeInputError, match="virtual"):
        read_path(virtual)


def test_refuses_implausible_dataset_size(small, tmp_path):
    _, paths = small["keras", "dense"]
    huge = _copy(paths, tmp_path, "huge.h5")
    with h5py.File(huge, "r+") as handle:
        del handle[KERNEL]
        handle.create_dataset(KERNEL, (1 << 20, 1 << 10), "f4", chunks=(1024, 1024))
    with pytest.raises(InputError, match="declares"):
        read_path(huge)


def test_compressed_keras_member_is_refused(small, tmp_path):
    _, paths = small["keras", "dense"]
    repacked = tmp_path / "deflated.keras"
    with zipfile.ZipFile(paths["keras"]) as src, zipfile.ZipFile(repacked, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, src.read(item.filename), zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match="compressed"):
        read_path(repacked)
    import gc
    import os
    import warnings

    gc.collect()
    open_before = len(os.listdir("/proc/self/fd"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # an unclosed file would say so
        for _ in range(5):
            with pytest.raises(InputError, match="compressed"):
                read_path(repacked)
        gc.collect()
    assert len(os.listdir("/proc/self/fd")) == open_before, "the refusal leaked a descriptor"


def test_dataset_names_that_are_not_utf8_never_borrow_another_datasets_values(tmp_path):
    """b"\\xff" decoded with replacement is "\\ufffd": a real dataset of that name must keep its
    own shape and values."""
    import hostile_corpus as hc

    path = hc.legacy_h5(tmp_path / "collide.h5")
    with h5py.File(path, "a") as handle:
        group = handle["model_weights/dense"]
        bias = group["seq/dense/bias"][()]
        del group["seq/dense/bias"]
        group["seq/dense/\ufffd"] = bias  # the listed weight, a valid UTF-8 name
        group.create_dataset(b"seq/dense/\xff", data=np.full(5, 7.0, np.float32))  # unlisted
        names = [b"seq/dense/kernel", "seq/dense/\ufffd".encode()]
        group.attrs["weight_names"] = np.array(names, dtype=object)
    ws = read_path(path)
    replaced = [t for t in ws if t.origin.endswith("\ufffd")]
    assert len(replaced) == 1
    assert replaced[0].shape == bias.shape and replaced[0].read().tobytes() == bias.tobytes()


# ---- no TensorFlow ---------------------------------------------------------------------------

NO_TF = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Block())
    sys.argv = ["exporter", *sys.argv[1:]]
    from exporter.cli.app import main
    try:
        main()
    finally:
        loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        assert not loaded, loaded
        # cold start: pydantic (typer >= 0.29) and the jsonschema package cost 50-70 ms each
        slow = [m for m in sys.modules if m.split(".")[0] in ("pydantic", "jsonschema")]
        assert not slow, slow
    """
)


def test_reading_never_imports_tensorflow(small, tmp_path):
    _, paths = small["keras", "nested"]
    _, tk_paths = small["tf-keras", "conv_bn"]
    runs = [
        ["inspect", paths["h5"]],
        ["inspect", "--json", paths["keras"]],
        ["inspect", paths["weights"], "--config", paths["keras"]],
        ["export", paths["h5"], "-o", tmp_path / "a.npz"],
        ["export", paths["keras"], "-o", tmp_path / "b.npz"],
        ["export", paths["weights"], "--config", paths["keras"], "-o", tmp_path / "c.npz"],
        ["export", tk_paths["save_weights_h5"], "-o", tmp_path / "d.npz"],
        ["validate", tmp_path / "a.npz"],
        ["diff", paths["h5"], paths["keras"]],
        ["diff", paths["weights"], tmp_path / "b.npz", "--config", paths["keras"]],
        ["spec", paths["keras"], "-o", tmp_path / "spec.json"],
        ["check", paths["h5"], "--spec", tmp_path / "spec.json"],
        ["export", paths["keras"], "--store", tmp_path / "store", "--name", "m"],
        ["versions", tmp_path / "store" / "m"],
    ]
    for args in runs:
        done = subprocess.run(
            [sys.executable, "-c", NO_TF, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
    summary = json.loads(
        subprocess.run(
            [sys.executable, "-c", NO_TF, "inspect", "--json", str(paths["keras"])],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
    )
    assert summary["source"]["kind"] == "keras-v3"
    expected, _ = small["keras", "nested"]
    assert [row["name"] for row in summary["tensors"]] == [e[0] for e in expected]
    npz = np.load(tmp_path / "b.npz")
    for name, _, values, _ in expected:
        assert np.array_equal(npz[f"{name}"], values)


def test_cli_refuses_unsafe_with_exit_3(small, tmp_path, cli):
    _, paths = small["keras", "dense"]
    soft = _copy(paths, tmp_path, "soft.h5")
    with h5py.File(soft, "r+") as handle:
        handle["model_weights/extra"] = h5py.SoftLink("/model_weights/hidden")
    result = cli("inspect", soft)
    assert result.exit_code == 3, result
    assert "soft link" in result.stderr


def test_a_layer_named_like_its_model_keeps_its_canonical_name(tmp_path):
    keras = keras3()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")], name="dense")
    for name in ("same.h5", "same.keras"):
        model.save(tmp_path / name)
        assert read_path(tmp_path / name).names() == weightset_from_model(model).names()
