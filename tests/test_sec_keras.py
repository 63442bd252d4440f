"""Issue #12, class 2 and part of class 6: code, file reads and allocations through Keras loading.

Every route that hands a file to Keras or tf-keras (`--via keras`, `apply`, `convert`) passes
keras_guard first: code anywhere in the config (not only Lambda), file paths Keras would open,
modules outside Keras, and weight values the config implies beyond what the file stores are
refused before Keras sees the file. A SavedModel is code: `convert`/`verify` refuse it without
--trust. Each attack is shown to work on the library itself (marker written, file read) and each
refusal has a positive control on a sound file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import hostile_corpus as hc
import hostile_keras as hk
import numpy as np
import pytest

from exporter.core.errors import UnsafeInputError
from exporter.models.keras import guard as keras_guard
from exporter.models.keras.config import audit_config, config_hazards
from exporter.models.keras.sizes import check_sizes

ROOT = Path(__file__).resolve().parents[1]
WIDE = 32768  # Dense(32768) on a 32768-wide input: 4 GiB of float32 kernel


# ---------------------------------------------------------------- the audit, on configs alone


def _with(layer: dict) -> dict:
    return hc.dense_config(extra_layers=[layer])


def _lookup(vocabulary, key: str = "vocabulary") -> dict:
    config = {"name": "lookup", "vocabulary": None, "idf_weights": None, key: vocabulary}
    return {"module": "keras.layers", "class_name": "StringLookup", "config": config}


@pytest.mark.parametrize(
    ("label", "layer", "kind", "text"),
    [
        ("wrapper", hk.residual_wrapper_layer(Path("/x/m")), "code", "residual_fn_type"),
        ("blob", hk.blob_layer(Path("/x/m")), "code", "layer 'odd' (Dense): marshalled"),
        ("lambda", hc.lambda_layer(), "code", "Lambda layer lambda"),
        ("getfile", hk.function_activation("keras.utils", "get_file"), "code", "get_file"),
        ("custom-module", hk.function_activation("mypkg.fns", "f"), "code", "mypkg.fns.f"),
        ("os", hk.function_activation("os", "system"), "foreign", "os.system"),
        ("eval", hk.function_activation("builtins", "eval"), "foreign", "'eval'"),
        ("vocab-path", _lookup("/etc/passwd"), "files", "vocabulary '/etc/passwd'"),
        ("idf-path", _lookup("/etc/passwd", "idf_weights"), "files", "idf_weights"),
        (
            "tfsm",
            {"class_name": "TFSMLayer", "config": {"name": "t", "filepath": "/m"}},
            "files",
            "filepath",
        ),
        (
            "import",
            {"module": "evilpkg", "class_name": "L", "config": {"name": "l"}},
            "imports",
            "evilpkg",
        ),
    ],
)
def test_audit_finds_each_hazard_and_names_the_layer(label, layer, kind, text):
    found = config_hazards(_with(layer))
    assert any(text in item for item in getattr(found, kind)), found
    with pytest.raises(UnsafeInputError, match="refused"):
        audit_config(_with(layer), "m.keras", trust=False, loading=True)


def test_audit_finds_hazards_nested_deep_in_models_and_wrappers():
    inner = _with(_lookup("/etc/passwd"))
    wrapped = {"class_name": "TimeDistributed", "config": {"name": "td", "layer": inner}}
    outer = hc.dense_config(extra_layers=[wrapped])
    for _ in range(200):  # deeper than any real model; the walk is iterative
        outer = {"class_name": "Functional", "config": {"name": "m", "layers": [outer]}}
    assert config_hazards(outer).files == [
        "layer 'lookup' (StringLookup): vocabulary '/etc/passwd'"
    ]


def test_sound_configs_pass_including_builtin_and_custom_named_functions():
    layers = [
        _lookup(["a", "b", "/etc/passwd"]),  # an inline vocabulary is data, whatever the tokens
        hk.function_activation("builtins", "gelu"),  # how Keras 3 writes every function
        hk.function_activation("keras.activations", "relu"),
        hk.function_activation("keras.src.losses.losses", "mean_squared_error"),
    ]
    config = hc.dense_config(extra_layers=layers)
    found = config_hazards(config)
    assert (found.code, found.files, found.imports, found.foreign) == ([], [], [], [])
    assert audit_config(config, "m.keras", trust=False, loading=True) == []


def test_direct_reading_does_not_refuse_what_it_never_opens():
    """The direct reader opens no vocabulary and imports nothing: only code needs --trust."""
    config = hc.dense_config(extra_layers=[_lookup("/etc/passwd")])
    assert audit_config(config, "m.keras", trust=False) == []
    with pytest.raises(UnsafeInputError, match="--trust"):
        audit_config(_with(hk.blob_layer(Path("/x"))), "m.keras", trust=False)


def test_trust_lets_code_through_but_never_foreign_objects():
    assert audit_config(_with(hk.blob_layer(Path("/x"))), "m", trust=True, loading=True)
    with pytest.raises(UnsafeInputError, match=r"os\.system"):
        audit_config(_with(hk.function_activation("os", "system")), "m", trust=True, loading=True)


# ---------------------------------------------------------------- implied sizes


def bomb_config(width: int = WIDE) -> dict:
    """Input(width) -> Dense(width), as Keras 3 writes it (build_config included)."""
    config = hc.dense_config()
    config["config"]["layers"][0]["config"]["batch_shape"] = [None, width]
    dense = config["config"]["layers"][1]
    dense["config"]["units"] = width
    dense["build_config"] = {"input_shape": [None, width]}
    return config


def test_sizes_refuse_a_config_far_beyond_the_stored_weights():
    with pytest.raises(UnsafeInputError, match=r"1,073,774,592 weight values.*'dense' \(Dense\)"):
        check_sizes(bomb_config(), [(3, 2), (2,)], "bomb.keras")
    check_sizes(hc.dense_config(), [(3, 2), (2,)], "sound.keras")  # Dense(2) on 3: 8 values


def test_sizes_follow_a_sequential_without_build_config():
    """tf-keras .h5 configs declare only the first input: widths flow through the layers."""
    layers = [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 4096]}},
        {"class_name": "Dense", "config": {"name": "a", "units": 4096}},
        {"class_name": "Dropout", "config": {"name": "d", "rate": 0.1}},
        {"class_name": "Dense", "config": {"name": "b", "units": 4096}},
    ]
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": layers}}
    with pytest.raises(UnsafeInputError, match="33,562,624"):
        check_sizes(config, [(4096, 4096)], "s.h5")


# ---------------------------------------------------------------- every route runs the guard


@pytest.mark.slow
def test_every_keras_route_runs_the_guard(tmp_path, monkeypatch):
    """--via keras, apply and convert all go through keras_guard before Keras opens the file."""
    import exporter
    from exporter.apply import apply_weights
    from exporter.convert.source import load_source

    calls = []

    def refuse(path, trust):
        calls.append(Path(path).name)
        raise UnsafeInputError(f"{path}: guarded")

    monkeypatch.setattr(keras_guard, "guard_keras_file", refuse)
    path = hc.keras_zip(tmp_path / "m.keras")
    weights = exporter.load(path)
    with pytest.raises(UnsafeInputError, match="guarded"):
        exporter.load(path, via="keras")
    with pytest.raises(UnsafeInputError, match="guarded"):
        apply_weights(weights, path, tmp_path / "out.keras")
    with pytest.raises(UnsafeInputError, match="guarded"):
        load_source(path)
    assert calls == ["m.keras"] * 3


# ---------------------------------------------------------------- real files, real frameworks


def _one_line_refusal(result, path: Path, pattern: str) -> None:
    assert result.exit_code == 3, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result
    assert path.name in lines[0] and "Traceback" not in result.stderr, result
    assert __import__("re").search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def tf_keras_files(tmp_path_factory):
    """A sound tf-keras .h5 and one whose RNN cell wrapper holds a marshalled residual_fn."""
    import tf_keras as K
    from tf_keras.src.layers.rnn import cell_wrappers

    folder = tmp_path_factory.mktemp("tfk")
    marker = folder / "payload_ran"
    payload = eval(f"lambda i, o: (open({str(marker)!r}, 'w').close(), o)[1]")  # our source
    cell = cell_wrappers.ResidualWrapper(K.layers.LSTMCell(3), residual_fn=payload)
    hostile = K.Sequential([K.Input((4, 3)), K.layers.RNN(cell, name="rnn"), K.layers.Dense(2)])
    hostile.save(folder / "wrapper.h5")
    sound = K.Sequential([K.Input((3,)), K.layers.Dense(2, name="dense")])
    sound.save(folder / "sound.h5")
    marker.unlink(missing_ok=True)  # building the model ran it once
    return {"hostile": folder / "wrapper.h5", "sound": folder / "sound.h5", "marker": marker}


@pytest.mark.slow
def test_tf_keras_runs_bytecode_outside_lambda_and_every_route_refuses_it(
    tf_keras_files, tmp_path, cli
):
    import tf_keras

    path, marker = tf_keras_files["hostile"], tf_keras_files["marker"]
    weights = hc.export_seed(tmp_path, "npz")
    for args in (
        ("inspect", "--via", "keras", path),
        ("convert", path, "-o", tmp_path / "m.onnx"),
        ("apply", weights, path, "-o", tmp_path / "new.h5"),
    ):
        _one_line_refusal(cli(*args), path, r"holds code.*residual_fn.*--trust")
        assert not marker.exists() and not (tmp_path / "m.onnx").exists()
    assert cli("inspect", "--via", "keras", tf_keras_files["sound"]).exit_code == 0
    # the attack is real: tf-keras itself runs the bytecode, safe mode or not
    tf_keras.models.load_model(path, safe_mode=True, compile=False)
    assert marker.exists()


def _string_lookup_keras(path: Path, vocabulary) -> Path:
    """A Keras 3 .keras holding a StringLookup, its config.json vocabulary set to vocabulary."""
    import keras

    inputs = keras.Input((1,), dtype="string")
    outputs = keras.layers.StringLookup(vocabulary=["a", "b"], name="lookup")(inputs)
    keras.Model(inputs, outputs).save(path)
    if vocabulary is None:
        return path
    return hc.rewrite_zip(path, lambda name, data: (name, _set_vocabulary(name, data, vocabulary)))


def _set_vocabulary(name: str, data: bytes, vocabulary) -> bytes:
    if name != "config.json":
        return data
    config = json.loads(data)
    config["config"]["layers"][1]["config"]["vocabulary"] = vocabulary
    return json.dumps(config).encode()


def _run(args: list, limit: int | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """The CLI in a fresh process (optionally under RLIMIT_AS), bounded in time."""
    code = textwrap.dedent(
        """
        import resource, sys
        limit = int(sys.argv[1])
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        sys.argv = ["exporter", *sys.argv[2:]]
        from exporter.cli.app import main
        main()
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, "-c", code, str(limit or 0), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def _string_lookup_h5(path: Path, vocabulary) -> Path:
    """A tf-keras .h5 holding a StringLookup (tf-keras keeps a vocabulary path in the config)."""
    import tf_keras as K

    inputs = K.Input((1,), dtype="string")
    outputs = K.layers.StringLookup(vocabulary=vocabulary, name="lookup")(inputs)
    K.Model(inputs, outputs).save(path)
    return path


@pytest.mark.slow
def test_tf_keras_opens_a_vocabulary_path_so_it_is_refused_before_loading(tmp_path, cli):
    import h5py
    import tf_keras

    outside = tmp_path / "outside.txt"
    outside.write_text("secret\ntokens\n")
    reads = _string_lookup_h5(tmp_path / "reads.h5", str(outside))
    # the attack is real: tf-keras (safe mode) reads the file the config names
    layer = tf_keras.models.load_model(reads, safe_mode=True).get_layer("lookup")
    assert "secret" in layer.get_vocabulary()
    # a FIFO would block the load forever: exporter refuses before anything opens it
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with h5py.File(reads, "r+") as handle:
        text = handle.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        handle.attrs["model_config"] = text.replace(str(outside), str(fifo))
    result = _run(["inspect", "--via", "keras", reads], timeout=90)
    assert result.returncode == 3, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "vocabulary" in lines[0] and reads.name in lines[0], lines
    for args in (("convert", reads, "-o", tmp_path / "m.onnx"),):
        _one_line_refusal(cli(*args), reads, "names files.*vocabulary.*fifo")
    keras3 = _string_lookup_keras(tmp_path / "k3.keras", str(fifo))  # Keras 3 style too
    _one_line_refusal(cli("inspect", "--via", "keras", keras3), keras3, "vocabulary.*fifo")
    # positive control: an inline vocabulary loads
    sound = _string_lookup_h5(tmp_path / "sound.h5", ["a", "b"])
    assert cli("inspect", "--via", "keras", sound).exit_code == 0


def _savedmodel(folder: Path, marker: Path) -> Path:
    """A SavedModel whose restore runs a resource initializer that writes marker."""
    import tensorflow as tf

    class Payload(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="")

        def _initialize(self):
            tf.io.write_file(str(marker), "ran")
            return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)

    class Module(tf.Module):
        def __init__(self):
            self.payload = Payload()

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            return {"y": x * 2.0}

    module = Module()
    path = folder / "saved"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    marker.unlink(missing_ok=True)
    return path


@pytest.mark.slow
def test_a_savedmodel_is_code_convert_and_verify_need_trust(tmp_path, cli):
    import tensorflow as tf

    marker = tmp_path / "payload_ran"
    path = _savedmodel(tmp_path, marker)
    onnx_path = hc.onnx_file(tmp_path / "m.onnx")
    for args in (("convert", path, "-o", tmp_path / "out.onnx"), ("verify", path, onnx_path)):
        result = cli(*args)
        _one_line_refusal(result, path, "SavedModel is code.*--trust")
        assert not marker.exists() and not (tmp_path / "out.onnx").exists()
    tf.saved_model.load(str(path))  # the attack is real: restoring it runs the op
    assert marker.read_text() == "ran"


def _bomb_files(folder: Path) -> dict[str, Path]:
    """10 KB files whose config makes Keras build Dense(32768) on 32768 inputs (4 GiB)."""
    tiny = np.zeros((3, 2), np.float32)
    weights = hc.weights_h5_bytes()
    keras_path = hc.keras_zip(folder / "bomb.keras", bomb_config(), weights)
    h5_path = hc.legacy_h5(folder / "bomb.h5", bomb_config())
    assert keras_path.stat().st_size < 20_000 and tiny.nbytes < 100
    return {"keras": keras_path, "h5": h5_path}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["inspect", "convert", "apply"])
def test_a_config_that_implies_gigabytes_is_refused_under_a_memory_limit(tmp_path, command):
    files = _bomb_files(tmp_path)
    weights = hc.export_seed(tmp_path, "npz")
    for kind, path in files.items():
        args = {
            "inspect": ["inspect", "--via", "keras", path],
            "convert": ["convert", path, "-o", tmp_path / f"{kind}.onnx"],
            "apply": ["apply", weights, path, "-o", tmp_path / f"new.{kind}"],
        }[command]
        result = _run(args, limit=3 << 30)
        assert result.returncode == 3, (kind, result.returncode, result.stderr[-2000:])
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "declares at least" in lines[0] and path.name in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.h5", "bomb.keras", "seed.npz"]


@pytest.mark.slow
def test_sound_models_load_through_every_route_under_the_same_limit(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.save(tmp_path / "sound.keras")
    path = tmp_path / "sound.keras"
    (tmp_path / "w").mkdir()
    weights = tmp_path / "w" / "w.npz"
    assert _run(["export", path, "-o", weights]).returncode == 0
    for args in (
        ["inspect", "--via", "keras", path],
        ["convert", path, "-o", tmp_path / "m.onnx"],
        ["apply", weights, path, "-o", tmp_path / "new.keras"],
    ):
        result = _run(args, limit=3 << 30)
        assert result.returncode == 0, (args[0], result.stderr[-2000:])


def test_bomb_files_are_refused_without_tensorflow(tmp_path):
    """The guard itself imports nothing of TensorFlow (it runs before the import)."""
    files = _bomb_files(tmp_path)
    code = (
        "import sys; from pathlib import Path; from exporter.models.keras.guard import "
        "guard_keras_file\ntry:\n guard_keras_file(Path(sys.argv[1]), False)\nexcept Exception "
        "as e: print(type(e).__name__)\nprint('tensorflow' in sys.modules)"
    )
    for path in files.values():
        out = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
        )
        assert out.stdout.split() == ["UnsafeInputError", "False"], out.stderr[-2000:]


def test_zip_config_is_the_one_keras_reads(tmp_path):
    """A second config.json member (zipfile and Keras both take the last) is what is audited."""
    path = hc.keras_zip(tmp_path / "dup.keras")
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning):
        archive.writestr("config.json", json.dumps(_with(hk.blob_layer(tmp_path / "x"))))
    with pytest.raises(UnsafeInputError):
        keras_guard.guard_keras_file(path, trust=False)
