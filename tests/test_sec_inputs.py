"""Issue #12, classes 4/5 and the Keras-loading race: what was checked is what is read.

The input is opened once (safe_open.InputFile) and every later read of it, by every reader,
by the libraries underneath (h5py, zipfile, skops, safetensors, onnx), by hashing and by Keras,
goes through that descriptor (or the same inode through /proc/self/fd); the Keras routes load a
private snapshot copied from it, after guarding that very snapshot.

The races are real: a second process swaps the input's path in a loop between the sound file
and (a) a FIFO, (b) a symlink to /dev/zero, (c) another sound file with different weights,
while `exporter export` runs again and again (bounded in time and runs, each run under a
timeout and an address-space limit). A run either exits 0 with an output byte-identical to the
export of ONE of the two files (its weights and its sha256 together), or exits 3 with one error
line and no output; it never hangs. EXPORTER_RACE_SECONDS sets the time per case.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import hostile_corpus as hc
import numpy as np
import pytest

import exporter
from exporter.core.errors import InputError, UnsafeInputError
from exporter.core.weightset import Tensor, WeightSet

ROOT = Path(__file__).resolve().parents[1]
RACE_SECONDS = float(os.environ.get("EXPORTER_RACE_SECONDS", "4"))
RACE_RUNS = 200
RUN_TIMEOUT = 30  # seconds: a run that takes longer hangs (a FIFO opened for reading)
MEMORY_LIMIT = 3 << 30  # a run that reads /dev/zero to its end stops at MemoryError
KINDS = ("npz", "json", "csv", "safetensors", "h5", "weights.h5", "keras", "onnx", "skops")
SWAPS = ("fifo", "devzero", "other")

# ---------------------------------------------------------------- the two sound files


def _other_weightset() -> WeightSet:
    """The seed tensors with other values (and another model name)."""
    ws = WeightSet()
    for tensor in hc.seed_weightset():
        array = np.asarray(tensor.read())
        changed = array if array.dtype == np.bool_ else array + np.ones((), array.dtype)
        ws.add(Tensor.from_array(tensor.name, changed.astype(array.dtype)))
    ws.info.model_name = "other"
    return ws


def _build(folder: Path, kind: str, other: bool) -> Path:
    """A sound file of kind; other=True: the same layout with different weights."""
    folder.mkdir(parents=True, exist_ok=True)
    if not other:
        return hc.make_seed(folder, kind)
    if kind in ("npz", "json", "csv", "safetensors"):
        out = folder / ("seed_wide.csv" if kind == "csv" else f"seed.{kind}")
        exporter.export(_other_weightset(), out, format=kind)
        return out
    if kind == "skops":
        from sklearn.linear_model import LinearRegression

        x = np.arange(12, dtype=np.float64).reshape(6, 2)
        return hc.skops_file(folder / "seed.skops", LinearRegression().fit(x, x @ [3.0, 1.0]))
    kernel, bias = hc.KERNEL, hc.BIAS
    hc.KERNEL, hc.BIAS = kernel * 2 + 1, bias - 3  # the builders read these globals
    try:
        return hc.make_seed(folder, kind)
    finally:
        hc.KERNEL, hc.BIAS = kernel, bias


# ---------------------------------------------------------------- the swapping process

SWAPPER = textwrap.dedent(
    """
    import os, sys, time
    path, swap, sound, other, stop, seconds = sys.argv[1:7]
    tmp, end, count = path + ".swap", time.monotonic() + float(seconds), 0

    def put(what):
        if what == "fifo":
            os.mkfifo(tmp)
        elif what == "devzero":
            os.symlink("/dev/zero", tmp)
        elif os.path.isdir(what):
            os.symlink(what, tmp)
        else:
            os.link(what, tmp)
        os.replace(tmp, path)
        if os.path.lexists(tmp):  # rename of a hard link onto the same file does nothing
            os.unlink(tmp)

    while not os.path.exists(stop) and time.monotonic() < end:
        put(sound)
        time.sleep(0.0005)
        put(other if swap == "other" else swap)
        time.sleep(0.0005)
        count += 1
    put(sound)
    print(count)
    """
)


def _place(path: Path, what: Path) -> None:
    """Put what at path (a hard link of a file, a symlink to a folder), replacing path."""
    tmp = path.with_name(path.name + ".place")
    if what.is_dir():
        tmp.symlink_to(what)
    else:
        os.link(what, tmp)
    os.replace(tmp, path)
    if os.path.lexists(tmp):  # rename of a hard link onto the same file does nothing
        tmp.unlink()


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _export(source: Path, out: Path, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "exporter", "--quiet", "export", str(source), "-o", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=_limited
    )


def _check_run(result, out: Path, path: Path, allowed: dict[str, bytes]) -> str:
    """The outcome of one export under the race: 'A'/'B' (the file it exported) or 'refused'."""
    if result.returncode == 3:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result.stderr
        assert path.name in lines[0] and "Traceback" not in result.stderr, result.stderr
        assert not out.exists(), "a refused run left an output"
        return "refused"
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    data = out.read_bytes()
    found = [name for name, expected in allowed.items() if data == expected]
    assert found, f"{out.name}: not the export of any one sound file (mixed weights/sha256?)"
    return found[0]


# ---------------------------------------------------------------- the races


@pytest.mark.parametrize("swap", SWAPS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_swapped_input_path_is_never_read(kind, swap, tmp_path):
    sound = _build(tmp_path / "a", kind, other=False)
    other = _build(tmp_path / "b", kind, other=True)
    folder, outs = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    outs.mkdir()
    path = folder / sound.name
    clean: dict[str, bytes] = {}
    for label, source in (("A", sound), ("B", other)):  # positive controls, nothing swapping
        _place(path, source)
        done = _export(path, outs / f"clean_{label}.npz")
        assert done.returncode == 0, done.stderr
        clean[label] = (outs / f"clean_{label}.npz").read_bytes()
    assert clean["A"] != clean["B"]
    _place(path, sound)
    allowed = clean if swap == "other" else {"A": clean["A"]}
    stop = tmp_path / "stop"
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(path), swap, str(sound), str(other), str(stop),
         str(RACE_SECONDS + 60)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    outcomes: dict[str, int] = {}
    try:
        deadline, runs = time.monotonic() + RACE_SECONDS, 0
        while runs < RACE_RUNS and (
            time.monotonic() < deadline or runs < 3 or not ({"A", "B"} & outcomes.keys())
        ):  # at least one success (the positive control under the race), within 200 runs
            out = outs / f"run{runs}.npz"
            try:
                result = _export(path, out)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{kind}/{swap}: export hung (run {runs}) while the path was swapped")
            outcome = _check_run(result, out, path, allowed)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            out.unlink(missing_ok=True)
            runs += 1
    finally:
        stop.touch()
        swaps = swapper.communicate(timeout=30)[0].strip()
    assert int(swaps or 0) > 0, "the swapper never ran"
    assert outcomes.get("A") or outcomes.get("B"), f"no run succeeded: {outcomes}"


# ---------------------------------------------------------------- the mechanism, in process


def test_one_descriptor_serves_every_read_after_the_path_changes(tmp_path):
    """Each reader, given the opened input, reads the checked file even when the path now
    names a FIFO: nothing blocks and the weights are the first file's."""
    from exporter.files.inputs import InputFile
    from exporter.readers import ReadOptions, detect

    for kind in KINDS:
        sound = _build(tmp_path / kind, kind, other=False)
        expected = exporter.load(sound).arrays()
        opened = InputFile(sound)
        moved = sound.with_name(sound.name + ".moved")
        os.rename(sound, moved)
        os.mkfifo(sound)
        try:
            ws = detect(opened).read(opened, ReadOptions())
            got = ws.arrays()
            if ws.info.sha256 is not None:  # the file read is the file hashed
                assert ws.info.sha256 == hashlib.sha256(moved.read_bytes()).hexdigest()
        finally:
            os.unlink(sound)
            os.rename(moved, sound)
        assert got.keys() == expected.keys(), kind
        for name in got:
            np.testing.assert_array_equal(got[name], expected[name])


def test_the_parent_folder_of_an_onnx_model_is_the_one_that_holds_it(tmp_path):
    """External data is read from the folder that holds the very model file that was read:
    a model moved away after it was opened is refused, not mixed with another folder's data."""
    import onnx_models as om

    from exporter.files.inputs import InputFile

    (tmp_path / "data").mkdir()
    path, _ = om.external_model(tmp_path, location="data/weights.bin")
    opened = InputFile(path)
    assert opened.parent().fd >= 0
    os.rename(path, path.with_name("moved.onnx"))
    path.write_bytes(b"another file")
    with pytest.raises(UnsafeInputError, match="replaced"):
        opened.parent()


# ---------------------------------------------------------------- Keras: a private snapshot

KERAS_FILES = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import tf_keras as K
    from tf_keras.src.layers.rnn import cell_wrappers

    folder = Path(sys.argv[1])
    marker = folder / "in" / "payload_ran"
    payload = eval(f"lambda i, o: (open({str(marker)!r}, 'w').close(), o)[1]")  # our source
    cell = cell_wrappers.ResidualWrapper(K.layers.LSTMCell(3), residual_fn=payload)
    model = K.Sequential([K.Input((4, 3)), K.layers.RNN(cell, name="rnn"), K.layers.Dense(2)])
    model.save(folder / "hostile.h5")
    K.Sequential([K.Input((4, 3)), K.layers.RNN(K.layers.LSTMCell(3), name="rnn"),
                  K.layers.Dense(2)]).save(folder / "sound.h5")
    marker.unlink(missing_ok=True)  # building the model ran it once
    """
)

# Every Keras route, with the user's path swapped to the hostile file right after the guard
# returns (deterministic: the guard saw the sound file). Then the attack itself, proving it is real.
KERAS_ROUTES = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import exporter
    from exporter.apply import apply_weights
    from exporter.convert.source import load_source
    from exporter.core.errors import ExporterError
    from exporter.models.keras import guard as keras_guard

    folder = Path(sys.argv[1])
    path, marker = folder / "in" / "model.h5", folder / "in" / "payload_ran"
    guard = keras_guard.guard_keras_file

    def guard_then_swap(checked, trust):
        found = guard(checked, trust)
        os.link(folder / "hostile.h5", folder / "in" / "tmp.h5")
        os.replace(folder / "in" / "tmp.h5", path)  # the user's path now holds code
        return found

    keras_guard.guard_keras_file = guard_then_swap
    weights = exporter.load(folder / "sound.h5")
    routes = {
        "via-keras": lambda: exporter.load(path, via="keras"),
        "apply": lambda: apply_weights(weights, path, folder / "out.h5"),
        "convert": lambda: load_source(path),
    }
    for name, route in routes.items():
        os.link(folder / "sound.h5", folder / "in" / "tmp.h5")
        os.replace(folder / "in" / "tmp.h5", path)
        try:
            route()
            print(name, "loaded", marker.exists())
        except ExporterError as exc:
            print(name, "refused", marker.exists(), str(exc).splitlines()[0])
    import tf_keras
    tf_keras.models.load_model(folder / "hostile.h5", safe_mode=True, compile=False)
    print("attack", marker.exists())
    """
)


def _python(script: str, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def keras_pair(tmp_path_factory) -> Path:
    """sound.h5 and hostile.h5 (tf-keras; hostile runs bytecode that writes in/payload_ran)."""
    pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("keras_race")
    (folder / "in").mkdir()
    made = _python(KERAS_FILES, folder)
    assert made.returncode == 0, made.stderr[-3000:]
    return folder


@pytest.mark.slow
def test_keras_routes_load_the_snapshot_the_guard_checked(keras_pair):
    """--via keras, apply and convert: a path swapped after the guard is never loaded."""
    done = _python(KERAS_ROUTES, keras_pair)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    for route in ("via-keras", "apply", "convert"):
        assert lines[route].startswith("loaded False"), (route, lines[route])
    assert lines["attack"] == "True", "the hostile file must run its code when tf-keras loads it"
    (keras_pair / "in" / "payload_ran").unlink()  # the control's marker, not a finding


@pytest.mark.slow
def test_keras_snapshot_race_with_a_second_process(keras_pair, tmp_path):
    """A second process swaps the path between the sound and the hostile file while
    `inspect --via keras` runs: exit 0 or 3, and the payload never runs."""
    folder = keras_pair
    path, marker, stop = folder / "in" / "model.h5", folder / "in" / "payload_ran", tmp_path / "s"
    marker.unlink(missing_ok=True)  # the routes test above ran the payload on purpose (its control)
    _place(path, folder / "sound.h5")
    seconds = max(RACE_SECONDS, 30)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(path), "other", str(folder / "sound.h5"),
         str(folder / "hostile.h5"), str(stop), str(seconds + 120)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    codes = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        deadline = time.monotonic() + seconds
        while len(codes) < 2 or (time.monotonic() < deadline and len(codes) < RACE_RUNS):
            cmd = [sys.executable, "-m", "exporter", "--quiet", "inspect", "--via", "keras", path]
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
            codes.append(result.returncode)
            assert result.returncode in (0, 3), result.stderr[-2000:]
            assert "Traceback" not in result.stderr
            assert not marker.exists(), "a file the guard did not see was loaded"
    finally:
        stop.touch()
        swapper.communicate(timeout=60)
    assert not marker.exists()


def test_snapshot_is_private_and_removed_even_on_errors(tmp_path):
    from exporter.files.inputs import InputFile
    from exporter.models.keras.api import keras_snapshot

    source = InputFile(hc.legacy_h5(tmp_path / "m.h5"))
    with keras_snapshot(source) as snapshot:
        assert snapshot.name == "m.h5" and snapshot.read_bytes() == source.path.read_bytes()
        assert snapshot.parent.stat().st_mode & 0o777 == 0o700
        kept = snapshot
    assert not kept.parent.exists()
    message = re.escape(f"{tmp_path / 'm.h5'}: damaged")
    with pytest.raises(InputError, match=message), keras_snapshot(source) as again:
        kept = again
        raise InputError(f"{again}: damaged")
    assert not kept.parent.exists()
