"""Plumbing that must never break a pipeline (issue #15): a closed stdout, options that disagree
with the output's name, global options on either side of the command, and the README's Makefile
as it is printed. Every test runs the real command line in a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import exporter

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("exporter")
TIMEOUT = 120
COMMAND = (sys.executable, "-m", "exporter")  # the console script's main(), as installed


def run(*args: object, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The real `exporter ARGS` in a subprocess (text output, bounded in time)."""
    command = [*COMMAND, *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, **kwargs
    )


def one_error_line(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """The result ended with code and exactly one `exporter: error:` line holding words."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result.stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in result.stderr and not result.stdout


@pytest.fixture(scope="module")
def big_npz(tmp_path_factory) -> Path:
    """An export whose `inspect` table and JSON are far bigger than a pipe's 64 KiB buffer."""
    folder = tmp_path_factory.mktemp("big")
    tensors = {f"layer{i}/kernel": np.full((3, 3), i, np.float32) for i in range(1500)}
    np.savez(folder / "plain.npz", **tensors)
    exporter.export(folder / "plain.npz", folder / "big.npz")
    return folder / "big.npz"


@pytest.fixture(scope="module")
def store(big_npz) -> Path:
    result = run("export", big_npz, "--store", big_npz.parent / "store", "--name", "m")
    assert result.returncode == 0, result.stderr
    return big_npz.parent / "store" / "m"


# ------------------------------------------------------------------ a closed stdout


def _closed_before_start(args: list[object]) -> subprocess.CompletedProcess:
    """args with a stdout whose reader has already gone: every write fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        command = [*COMMAND, *map(str, args)]
        return subprocess.run(
            command, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT
        )
    finally:
        os.close(write_end)


def _closed_after_one_byte(args: list[object]) -> tuple[int, str]:
    """`exporter ARGS | head -c1`: the reader takes one byte and goes away."""
    command = [*COMMAND, *map(str, args)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout.read(1)
        process.stdout.close()
        try:
            code = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        return code, process.stderr.read().decode()


def _stdout_commands(big_npz: Path, store: Path) -> list[list[object]]:
    return [
        ["inspect", big_npz],
        ["inspect", big_npz, "--json"],
        ["--json", "inspect", big_npz],
        ["validate", big_npz, "--json"],
        ["diff", big_npz, big_npz, "--json"],
        ["versions", store],
        ["versions", store, "--json"],
        ["--version"],
        ["--help"],
        ["inspect", "--help"],
    ]


def test_a_closed_stdout_is_a_normal_end(big_npz, store):
    for args in _stdout_commands(big_npz, store):
        control = run(*args)  # the positive control: the command writes to stdout
        assert control.returncode == 0 and control.stdout, (args, control.stderr)
        result = _closed_before_start(args)
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        assert "error" not in result.stderr.lower(), (args, result.stderr)
        assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("json_out", [False, True])
def test_head_c1_ends_a_long_output_quietly(big_npz, json_out):
    args = ["inspect", big_npz, "--quiet"] + (["--json"] if json_out else [])
    for _ in range(3):  # a race between the reader and the writer: try it more than once
        code, stderr = _closed_after_one_byte(args)
        assert code == 0, stderr
        assert "error" not in stderr.lower() and "Exception ignored" not in stderr, stderr


def test_a_real_shell_pipeline_with_pipefail(big_npz):
    if shutil.which("bash") is None or shutil.which("head") is None:
        pytest.skip("needs bash and head")
    script = f"set -o pipefail; '{EXE}' inspect '{big_npz}' | head -1"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("name") and "internal error" not in result.stderr


# ------------------------------------------------------------------ options that disagree


def test_a_format_the_output_name_contradicts_is_refused(big_npz, tmp_path):
    result = run("export", big_npz, "--format", "json", "-o", tmp_path / "out.npz")
    one_error_line(result, 2, "out.npz", "--format")
    assert not (tmp_path / "out.npz").exists()
    result = run("export", big_npz, "--format", "npz", "-o", f"{tmp_path / 'folder'}/")
    one_error_line(result, 2, "folder/", "CSV")
    assert not (tmp_path / "folder").exists()
    control = run("export", big_npz, "--format", "json", "-o", tmp_path / "out.json")
    assert control.returncode == 0, control.stderr
    assert exporter.validate(tmp_path / "out.json").ok
    unnamed = run("export", big_npz, "--format", "npz", "-o", tmp_path / "weights.bin")
    assert unnamed.returncode == 0 and exporter.validate(tmp_path / "weights.bin").ok


def test_a_trailing_slash_means_a_csv_folder(big_npz, tmp_path):
    result = run("export", big_npz, "-o", f"{tmp_path / 'weights'}/")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "weights" / "manifest.json").is_file()
    assert (tmp_path / "weights" / "layer7" / "kernel.csv").is_file()
    assert exporter.validate(tmp_path / "weights").ok


def test_csv_layout_long_is_a_folder_and_only_for_csv(big_npz, tmp_path):
    result = run("export", big_npz, "-o", tmp_path / "x.csv", "--csv-layout", "long")
    assert result.returncode == 0 and "a folder" in result.stderr, result.stderr
    assert sorted(p.name for p in (tmp_path / "x.csv").iterdir()) == [
        "manifest.json",
        "weights.csv",
    ]
    assert exporter.validate(tmp_path / "x.csv").ok
    refused = run("export", big_npz, "-o", tmp_path / "x.npz", "--csv-layout", "long")
    one_error_line(refused, 2, "--csv-layout long", "npz")
    assert not (tmp_path / "x.npz").exists()


def test_a_single_export_creates_missing_folders_as_batches_do(big_npz, tmp_path):
    single = run("export", big_npz, "-o", tmp_path / "new" / "sub" / "w.npz")
    assert single.returncode == 0, single.stderr
    assert exporter.validate(tmp_path / "new" / "sub" / "w.npz").ok
    batch = run("export", big_npz, big_npz.parent / "plain.npz", "--format", "npz",
                "-o", tmp_path / "other" / "deep")  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    assert sorted(p.name for p in (tmp_path / "other" / "deep").iterdir()) == [
        "big.npz",
        "plain.npz",
    ]
    (tmp_path / "afile").write_text("mine")
    blocked = run("export", big_npz, "-o", tmp_path / "afile" / "w.npz")
    one_error_line(blocked, 2, "afile", "in the way")
    assert (tmp_path / "afile").read_text() == "mine"


# ------------------------------------------------------------------ global options


def test_quiet_before_or_after_the_command(big_npz, tmp_path):
    control = run("export", big_npz, "-o", tmp_path / "a.npz")
    assert control.returncode == 0 and "wrote" in control.stderr
    for i, args in enumerate(
        (["-q", "export", big_npz], ["export", big_npz, "-q"], ["export", big_npz, "--quiet"])
    ):
        result = run(*args, "-o", tmp_path / f"q{i}.npz")
        assert result.returncode == 0 and result.stderr == "", (args, result.stderr)


def test_debug_before_or_after_the_command(tmp_path):
    missing = tmp_path / "missing.npz"
    plain = run("inspect", missing)
    one_error_line(plain, 3, "missing.npz")
    for args in (["--debug", "inspect", missing], ["inspect", missing, "--debug"]):
        result = run(*args)
        assert result.returncode == 3 and "Traceback" in result.stderr, (args, result.stderr)


def test_json_before_or_after_the_command(big_npz, store):
    after = run("inspect", big_npz, "--json")
    before = run("--json", "inspect", big_npz)
    assert after.returncode == before.returncode == 0
    assert json.loads(after.stdout) == json.loads(before.stdout)
    assert json.loads(run("--json", "versions", store).stdout)["versions"]
    refused = run("--json", "export", big_npz, "-o", big_npz.parent / "never.npz")
    one_error_line(refused, 2, "--json", "export")
    assert not (big_npz.parent / "never.npz").exists()


# ------------------------------------------------------------------ the README's Makefile


def readme_makefile() -> str:
    """The ```make block of README.md's "Make pattern rules" section, as printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Make pattern rules") :]
    return re.search(r"```make\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_the_readme_makefile_as_printed(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from hostile_corpus import keras_zip

    (tmp_path / "Makefile").write_text(readme_makefile())
    (tmp_path / "models").mkdir()
    keras_zip(tmp_path / "models" / "net.keras")
    spec = tmp_path / "specs" / "net.json"
    made = run("spec", tmp_path / "models" / "net.keras", "-o", spec)  # creates specs/
    assert made.returncode == 0, made.stderr
    env = {**os.environ, "PATH": f"{EXE.parent}{os.pathsep}{os.environ['PATH']}"}

    def make() -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-C", str(tmp_path)], capture_output=True, text=True,
                              env=env, timeout=TIMEOUT)  # fmt: skip

    first = make()  # weights/ does not exist yet
    assert first.returncode == 0, first.stdout + first.stderr
    target = tmp_path / "weights" / "net.npz"
    assert exporter.validate(target).ok
    second = make()
    assert second.returncode == 0 and "Nothing to be done" in second.stdout, second.stdout
    contract = json.loads(spec.read_text())
    contract["tensors"][0]["shape"] = [999, 999]  # the contract breaks: the check must fail
    spec.write_text(json.dumps(contract))
    broken = make()
    assert broken.returncode != 0 and "violation" in broken.stderr, broken.stderr
    assert not target.exists()  # deleted: the next make checks again
    again = make()
    assert again.returncode != 0 and "Nothing to be done" not in again.stdout


# ------------------------------------------------------------------ conversion errors, exit 3

KERAS_MODELS = """
import sys
import keras
def dense(features, name):
    x = keras.Input((features,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name=name)(x))
dense(3, "d").save("k3.keras")
dense(4, "d").save("k4.keras")
dense(3, "dense_\\u00e9").save("unicode.keras")
s = keras.Input((1,), dtype="string", name="s")
lookup = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="int")
keras.Model(s, lookup(s)).save("string.keras")
"""


@pytest.fixture(scope="module")
def keras_models(tmp_path_factory) -> Path:
    pytest.importorskip("tf2onnx")
    folder = tmp_path_factory.mktemp("keras")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    made = subprocess.run([sys.executable, "-c", KERAS_MODELS], cwd=folder, capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    return folder


def _last_line(result: subprocess.CompletedProcess) -> str:
    """The error line (TensorFlow's C++ start-up logging may come before it)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("exporter:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def test_convert_failures_are_exit_3_with_the_cause(keras_models):
    control = run("convert", "k3.keras", "-o", "k3.onnx", "-q", cwd=keras_models)
    assert control.returncode == 0, control.stderr[-2000:]
    string = run("convert", "string.keras", "-o", "string.onnx", cwd=keras_models)
    assert string.returncode == 3, string.stderr[-2000:]
    assert "input 's'" in _last_line(string) and "string" in _last_line(string)
    unicode = run("convert", "unicode.keras", "-o", "unicode.onnx", cwd=keras_models)
    assert unicode.returncode == 3, unicode.stderr[-2000:]
    line = _last_line(unicode)
    assert "unicode.keras" in line and "not a valid root scope name" in line, line
    assert not list(keras_models.glob("string.onnx*")) + list(keras_models.glob("unicode.onnx*"))


def test_verify_with_other_input_features_is_exit_3(keras_models):
    if not (keras_models / "k3.onnx").exists():
        made = run("convert", "k3.keras", "-o", "k3.onnx", "-q", cwd=keras_models)
        assert made.returncode == 0, made.stderr[-2000:]
    assert run("verify", "k3.keras", "k3.onnx", "-q", cwd=keras_models).returncode == 0
    result = run("verify", "k4.keras", "k3.onnx", cwd=keras_models)
    assert result.returncode == 3 and "expected shape=(None, 4)" in _last_line(result)
