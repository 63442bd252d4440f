"""Reads outside the input through links and swaps, FIFOs and devices, and sizes declared in
exports (issue #12, classes 4, 5 and the export-format part of 6).

Every attack here has a positive control (the same command on a sound input succeeds), files
outside the input whose text would be read quietly as a tensor (so a leak would show in the
output), real second processes for the races (bounded in time and count), and subprocesses with
timeouts for inputs that would hang or fill memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import hostile_corpus as hc
import hostile_links as hl
import numpy as np
import onnx_models as om
import pytest

import exporter
from exporter.core.errors import InputError, UnsafeInputError
from exporter.core.weightset import Tensor, WeightSet
from exporter.files import inputs as safe_open

EXPORTER = [sys.executable, "-m", "exporter"]
SECRET_FLOAT = "1234.5"
SECRET_INT = "777777"
RACE_RUNS = 250
RACE_SECONDS = 30.0


def run_cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in its own process, killed after timeout seconds, under a 3 GiB memory limit."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(
        [*EXPORTER, *map(str, args)],
        capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
    )  # fmt: skip


def assert_refused(done: subprocess.CompletedProcess, path: Path, pattern: str = "") -> None:
    assert done.returncode == 3, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), done.stderr
    assert path.name in lines[0] and pattern in lines[0], lines[0]
    assert done.stdout == ""


# ---------------------------------------------------------------- the mechanism itself


def test_open_inside_refuses_links_fifos_devices_and_replaced_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("ok")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    (tmp_path / "d" / "to_f").symlink_to("f")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    folder = safe_open.Folder(tmp_path)
    assert folder.read(("d", "f"), 10, "w", "f") == b"ok"
    cases = {("link", "f"): "goes through a symlink", ("d", "to_f"): "is a symlink",
             ("fifo",): "FIFO", ("zero",): "is a symlink", ("d",): "a folder"}  # fmt: skip
    for parts, message in cases.items():
        with pytest.raises(UnsafeInputError, match=message):
            folder.open(parts, "w", "/".join(parts))
    with pytest.raises(InputError, match="is missing"):
        folder.open(("nope",), "w", "nope")
    st = os.stat(tmp_path / "d" / "f")
    os.replace(tmp_path / "d" / "f", tmp_path / "old")
    (tmp_path / "d" / "f").write_text("ok")
    with pytest.raises(UnsafeInputError, match="replaced"):
        folder.open(("d", "f"), "w", "f", expect=safe_open.identity(st))
    os.link(tmp_path / "old", tmp_path / "d" / "hard")
    with pytest.raises(UnsafeInputError, match="2 hard links"):
        folder.open(("d", "hard"), "w", "hard", max_links=1)


def test_open_input_follows_the_users_link_but_only_to_a_file_or_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    os.close(safe_open.open_input(tmp_path / "link"))
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name, message in (("fifo", "FIFO"), ("zero", "device")):
        with pytest.raises(InputError, match=message):
            safe_open.open_input(tmp_path / name)
    with pytest.raises(InputError, match="no such file"):
        safe_open.open_input(tmp_path / "missing")


def test_read_bounded_refuses_before_reading(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        assert safe_open.read_bounded(fd, 100, "f") == b"x" * 100
        with pytest.raises(InputError, match="more than the 99"):
            safe_open.read_bounded(fd, 99, "f")
    finally:
        os.close(fd)


# ---------------------------------------------------------------- symlinks to secrets


@pytest.mark.parametrize(
    "build", [hl._csv_data_symlink, hl._csv_folder_symlink], ids=["file", "folder"]
)
def test_a_symlinked_csv_data_file_never_shows_the_secret(build, tmp_path, cli):
    sound = hc.make_seed(tmp_path / "sound", "csv")
    assert cli("export", sound, "-o", tmp_path / "sound.json").exit_code == 0  # control
    path = build(tmp_path)
    out = tmp_path / "out.json"
    for args in (("export", path, "-o", out), ("inspect", path, "--json"), ("validate", path)):
        result = cli(*args)
        assert result.exit_code == 3, result
        assert "symlink" in result.stderr and SECRET_FLOAT not in result.stdout + result.stderr
    assert not out.exists()


def test_a_symlinked_manifest_is_refused(tmp_path, cli):
    path = hl._csv_manifest_symlink(tmp_path)
    result = cli("inspect", path)
    assert result.exit_code == 3 and "manifest.json is a symlink" in result.stderr, result
    (path / "manifest.json").unlink()
    (tmp_path / "outside" / "manifest.json").rename(path / "manifest.json")
    assert cli("inspect", path).exit_code == 0  # the same export, unlinked, is fine


def test_the_input_itself_may_be_the_users_own_symlink(tmp_path, cli):
    real = hc.export_seed(tmp_path, "csv")
    (tmp_path / "link.csv").symlink_to(real)
    (tmp_path / "link.npz").symlink_to(hc.export_seed(tmp_path, "npz"))
    for link in ("link.csv", "link.npz"):
        assert cli("export", tmp_path / link, "-o", tmp_path / f"{link}.json").exit_code == 0


# ---------------------------------------------------------------- FIFOs and devices


def _fifo_input(folder: Path) -> Path:
    os.mkfifo(folder / "model.npz")
    return folder / "model.npz"


def _fifo_manifest(folder: Path) -> Path:
    path = hc.export_seed(folder, "csv")
    (path / "manifest.json").unlink()
    os.mkfifo(path / "manifest.json")
    return path


def _fifo_data(folder: Path) -> Path:
    path = hc.export_seed(folder, "csv")
    (path / "dense" / "bias.csv").unlink()
    os.mkfifo(path / "dense" / "bias.csv")
    return path


def _fifo_long_table(folder: Path) -> Path:
    path = hc.export_seed(folder, "csv-long")
    (path / "weights.csv").unlink()
    os.mkfifo(path / "weights.csv")
    return path


def _fifo_onnx_data(folder: Path) -> Path:
    path, _ = om.external_model(folder, write_data=False)
    os.mkfifo(folder / "weights.bin")
    return path


def _devzero_input(folder: Path) -> Path:
    (folder / "zero.json").symlink_to("/dev/zero")
    return folder / "zero.json"


def _devzero_onnx_input(folder: Path) -> Path:
    (folder / "zero.onnx").symlink_to("/dev/zero")
    return folder / "zero.onnx"


SPECIAL = {
    "fifo-input": (_fifo_input, "FIFO"),
    "fifo-manifest": (_fifo_manifest, "FIFO"),
    "fifo-csv-data": (_fifo_data, "FIFO"),
    "fifo-csv-long-table": (_fifo_long_table, "FIFO"),
    "fifo-onnx-external-data": (_fifo_onnx_data, "FIFO"),
    "devzero-csv-data": (hl._csv_devzero, "symlink"),
    "devzero-onnx-external-data": (hl._onnx_devzero, "symlink"),
    "devzero-input-json": (_devzero_input, "device"),
    "devzero-input-onnx": (_devzero_onnx_input, "device"),
    "devzero-input-itself": (lambda folder: Path("/dev/zero"), "device"),
}


@pytest.mark.parametrize("name", SPECIAL)
def test_fifos_and_devices_end_promptly_with_exit_3(name, tmp_path):
    build, message = SPECIAL[name]
    path = build(tmp_path)
    out = tmp_path / "out.npz"
    started = time.monotonic()
    done = run_cli("export", path, "-o", out, timeout=60)
    assert_refused(done, path, message)
    assert time.monotonic() - started < 30 and not out.exists()


def test_sound_inputs_of_the_same_kinds_export(tmp_path):
    """The positive control of the FIFO/device cases: the same commands on sound files."""
    folder = tmp_path / "onnx"
    folder.mkdir()
    inputs = [hc.export_seed(tmp_path, kind) for kind in ("npz", "csv", "csv-long", "json")]
    inputs.append(om.external_model(folder)[0])
    for index, path in enumerate(inputs):
        done = run_cli("export", path, "-o", tmp_path / f"out{index}.npz")
        assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- sizes declared in exports


def test_a_csv_line_far_longer_than_its_values_is_refused_unread(tmp_path):
    path = hc.export_seed(tmp_path, "csv")
    with open(path / "dense" / "bias.csv", "wb") as handle:
        handle.write(b"1" + b"0" * (200 << 20) + b"\n2\n3\n")
    started = time.monotonic()
    done = run_cli("export", path, "-o", tmp_path / "out.npz")
    assert_refused(done, path, "bytes, more than the")
    assert time.monotonic() - started < 20


def test_a_resaved_npz_manifest_is_read_like_the_original(tmp_path, cli):
    """numpy re-saves manifest.json as a 0-d unicode array: still a manifest (control)."""
    path = hc.export_seed(tmp_path, "npz")
    arrays = dict(np.load(path))
    np.savez(tmp_path / "resaved.npz", **arrays)
    ws = exporter.load(tmp_path / "resaved.npz")
    assert ws.names() == exporter.load(path).names() and "manifest" in ws.info.extra


# ---------------------------------------------------------------- races with a second process

SWAP_FILE = """
import os, sys, time
target, secret, stop = sys.argv[1], sys.argv[2], sys.argv[3]
good = open(target, "rb").read()
end = time.monotonic() + {seconds}
while not os.path.exists(stop) and time.monotonic() < end:
    os.symlink(secret, target + ".link")
    os.replace(target + ".link", target)
    with open(target + ".new", "wb") as handle:
        handle.write(good)
    os.replace(target + ".new", target)
    time.sleep(0.001)
"""

SWAP_FOLDER = """
import os, sys, time
target, outside, stop = sys.argv[1], sys.argv[2], sys.argv[3]
end = time.monotonic() + {seconds}
while not os.path.exists(stop) and time.monotonic() < end:
    time.sleep(0.001)
    os.rename(target, target + ".real")
    os.symlink(outside, target)
    time.sleep(0.001)
    os.unlink(target)
    os.rename(target + ".real", target)
"""


def _race(tmp_path: Path, script: str, args: list[Path], source: Path, cli) -> tuple[int, int]:
    """Export source over and over while a second process runs script; every output must be
    free of the secret values. Returns (exports that succeeded, exports refused)."""
    stop = tmp_path / "stop"
    code = script.format(seconds=RACE_SECONDS + 10)
    swapper = subprocess.Popen([sys.executable, "-c", code, *map(str, args), str(stop)])
    ok = refused = 0
    try:
        end = time.monotonic() + RACE_SECONDS
        for index in range(RACE_RUNS):
            if time.monotonic() > end:
                break
            out = tmp_path / "outs" / f"out{index}.json"
            result = cli("export", source, "-o", out)
            text = out.read_text() if out.exists() else ""
            assert SECRET_FLOAT not in text + result.stdout and SECRET_INT not in text, index
            assert result.exit_code in (0, 3), result
            if result.exit_code == 3:
                assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
                refused += 1
            else:
                ok += 1
    finally:
        stop.touch()
        swapper.wait(timeout=30)
    return ok, refused


def _many_readers_of_one_file(folder: Path, count: int = 10) -> Path:
    """A CSV export of count 3-value tensors whose manifest gives them all one data file,
    data.csv (an attacker may do that), so that each export reads it count times."""
    ws = WeightSet()
    for index in range(count):
        ws.add(Tensor.from_array(f"t{index}", np.array([0.5, 1.5, 2.5], np.float32)))
    path = folder / "many.csv"
    exporter.export(ws, path, format="csv")
    manifest = json.loads((path / "manifest.json").read_text())
    for entry in manifest["tensors"]:
        (path / entry["location"]).unlink(missing_ok=True)
        entry["location"] = "data.csv"
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "data.csv").write_text("0.5\n1.5\n2.5\n")
    return path


def test_a_csv_data_file_swapped_for_a_symlink_is_never_read(tmp_path, cli):
    path = _many_readers_of_one_file(tmp_path)
    secret = hl.outside_secret(tmp_path)
    (tmp_path / "outs").mkdir()
    assert cli("export", path, "-o", tmp_path / "control.json").exit_code == 0
    args = [path / "data.csv", secret]
    ok, refused = _race(tmp_path, SWAP_FILE, args, path, cli)
    assert refused > 0, "the swapper never hit a read: the race was not exercised"
    assert ok + refused > 10


def _outside_onnx_data(folder: Path) -> Path:
    """weights.bin with W and b as external_model lays them out, but secret values."""
    folder.mkdir()
    w = np.full(12, float(SECRET_FLOAT), np.float32)
    b = np.full(3, int(SECRET_INT), np.int64)
    (folder / "weights.bin").write_bytes(w.tobytes() + b.tobytes())
    return folder


def test_an_onnx_data_folder_swapped_for_a_symlink_is_never_followed(tmp_path, cli):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    path, _ = om.external_model(model, location="sub/weights.bin")
    outside = _outside_onnx_data(tmp_path / "outside")
    (tmp_path / "outs").mkdir()
    assert cli("export", path, "-o", tmp_path / "control.json").exit_code == 0
    ok, refused = _race(tmp_path, SWAP_FOLDER, [model / "sub", outside], path, cli)
    assert refused > 0, "the swapper never hit a read: the race was not exercised"
    assert ok + refused > 10


# ---------------------------------------------------------------- verify


@pytest.fixture
def verify_pair(tmp_path):
    """An MLP (weights in ONNX initializers) as .skops, and its ONNX with external data in
    sub/data.bin."""
    import onnx
    import skops.io as sio
    from onnx import numpy_helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.neural_network import MLPRegressor

    x = np.random.default_rng(0).normal(size=(40, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged: any weights will do
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
        est.fit(x, x.sum(axis=1))
    sio.dump(est, tmp_path / "mlp.skops")
    proto = convert_sklearn(est, initial_types=[("X", FloatTensorType([None, 3]))])
    for tensor in proto.graph.initializer:  # float weights to raw_data, which onnx externalizes
        if tensor.data_type == onnx.TensorProto.FLOAT:  # (not Reshape's shape: onnxruntime
            array = numpy_helper.to_array(tensor)  # needs it inline)
            tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    path = folder / "mlp.onnx"
    onnx.save_model(proto, path, save_as_external_data=True, location="data.bin", size_threshold=0)
    (folder / "data.bin").rename(folder / "sub" / "data.bin")
    proto = onnx.load(path, load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "sub/data.bin"
    onnx.save_model(proto, path)
    return tmp_path / "mlp.skops", folder / "mlp.onnx"


def test_verify_reads_external_data_only_through_exporters_checks(verify_pair, tmp_path):
    source, model = verify_pair
    done = run_cli("verify", source, model, timeout=120)
    assert done.returncode == 0, done.stderr  # control: the sound pair verifies
    outside = tmp_path / "outside"
    outside.mkdir()
    data = model.parent / "sub" / "data.bin"
    os.replace(data, outside / "data.bin")
    os.link(outside / "data.bin", data)  # onnxruntime follows a hard link (FORMATS.md)
    assert_refused(run_cli("verify", source, model, timeout=120), model, "2 hard links")
    data.unlink()
    (model.parent / "sub").rmdir()
    (model.parent / "sub").symlink_to(outside)
    assert_refused(run_cli("verify", source, model, timeout=120), model, "symlink")


SWAP_HARD_LINK = """
import os, sys, time
target, outside, stop = sys.argv[1], sys.argv[2], sys.argv[3]
good = open(target, "rb").read()
end = time.monotonic() + {seconds}
while not os.path.exists(stop) and time.monotonic() < end:
    with open(target + ".new", "wb") as handle:
        handle.write(good)
    os.replace(target + ".new", target)
    time.sleep(0.002)
    os.link(outside, target + ".link")
    os.replace(target + ".link", target)
    time.sleep(0.002)
"""


def test_verify_never_runs_external_data_swapped_for_a_hard_link(verify_pair, tmp_path, cli):
    """onnx.load checks the data file, then onnxruntime opens it again by path and follows a
    hard link: swapped in between, the check would run other weights (exit 1). exporter gives
    onnxruntime the bytes it checked itself: exit 0 or a refusal, never other weights."""
    source, model = verify_pair
    data = model.parent / "sub" / "data.bin"
    (tmp_path / "outside").mkdir()
    other = tmp_path / "outside" / "data.bin"
    values = np.frombuffer(data.read_bytes(), np.float32)
    other.write_bytes((values + 100).astype(np.float32).tobytes())
    assert cli("verify", source, model).exit_code == 0  # control
    stop = tmp_path / "stop"
    code = SWAP_HARD_LINK.format(seconds=RACE_SECONDS + 10)
    swapper = subprocess.Popen([sys.executable, "-c", code, str(data), str(other), str(stop)])
    codes = []
    try:
        end = time.monotonic() + RACE_SECONDS
        while len(codes) < RACE_RUNS and time.monotonic() < end:
            result = cli("verify", source, model)
            assert result.exit_code in (0, 3), result
            codes.append(result.exit_code)
    finally:
        stop.touch()
        swapper.wait(timeout=30)
    assert 3 in codes, "the swapper never hit a read: the race was not exercised"


def test_verify_with_a_fifo_as_external_data_ends_promptly(verify_pair):
    source, model = verify_pair
    data = model.parent / "sub" / "data.bin"
    data.unlink()
    os.mkfifo(data)
    assert_refused(run_cli("verify", source, model, timeout=120), model, "FIFO")


def test_verify_report_keeps_the_sha256_of_the_model_file(verify_pair, tmp_path):
    import hashlib

    source, model = verify_pair
    report = tmp_path / "report.json"
    done = run_cli("verify", source, model, "--report", report, timeout=120)
    assert done.returncode == 0, done.stderr
    document = json.loads(report.read_text())
    assert document["onnx"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
