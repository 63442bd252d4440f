"""Writes are atomic and never destroy: temporary name + rename, --force to overwrite, and a failure,
Ctrl-C (SIGINT) or kill (SIGKILL) in the middle leaves the previous output byte-identical.

After SIGKILL nothing can clean up: a stray `.NAME.*.tmp` may stay beside the output (it is never
mistaken for the output), and the next run with --force still succeeds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hostile_corpus as hc
import numpy as np
import pytest

import exporter
from exporter.core.errors import InputError, OutputExistsError
from exporter.core.weightset import Tensor, WeightSet

ROOT = Path(__file__).resolve().parents[1]
BIG_BYTES = 300 << 20


def digest(path: Path) -> str:
    if path.is_dir():
        parts = [
            f"{p.relative_to(path)}:{digest(p)}" for p in sorted(path.rglob("*")) if p.is_file()
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


def failing_weightset() -> WeightSet:
    """The seed tensors, then one whose data cannot be read (the write fails in the middle)."""
    ws = hc.seed_weightset()

    def broken() -> np.ndarray:
        raise InputError("broken.bin: simulated read failure")

    ws.add(Tensor("z/broken", np.dtype(np.float32), (2,), broken))
    return ws


@pytest.mark.parametrize("fmt", ["npz", "json", "csv", "safetensors"])
def test_failure_mid_write_keeps_the_previous_output(fmt, tmp_path):
    out = tmp_path / f"out.{fmt}"
    exporter.export(hc.seed_weightset(), out)
    before = digest(out)
    with pytest.raises(InputError, match="simulated"):
        exporter.export(failing_weightset(), out, force=True)
    assert digest(out) == before
    assert leftovers(tmp_path) == []
    with pytest.raises(InputError):
        exporter.export(failing_weightset(), tmp_path / f"new.{fmt}")
    assert not (tmp_path / f"new.{fmt}").exists() and leftovers(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise here")
def test_replacing_a_file_first_drops_its_cached_pages_only(tmp_path, monkeypatch):
    from exporter.files import kernel_copy

    dropped = []
    real = os.posix_fadvise

    def spy(fd, offset, length, advice):
        dropped.append((os.readlink(f"/proc/self/fd/{fd}"), advice))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    out = tmp_path / "out.npz"
    exporter.export(hc.seed_weightset(), out)
    assert dropped == []  # nothing to replace
    before = digest(out)
    with pytest.raises(InputError, match="simulated"):  # the old file survives a failed replace
        exporter.export(failing_weightset(), out, force=True)
    assert digest(out) == before and dropped == [(str(out), os.POSIX_FADV_DONTNEED)]
    link = tmp_path / "link.npz"
    link.symlink_to(out)
    with pytest.raises(OutputExistsError):
        exporter.export(hc.seed_weightset(), link, force=True)
    assert len(dropped) == 1  # never through a link
    kernel_copy.release_cache(tmp_path / "missing.npz")
    assert len(dropped) == 1


def test_the_writer_creates_its_file_under_the_output_name(tmp_path):
    """The temporary is a name nobody holds yet (so no truncating open; ext4 would write the
    whole file out on close) with the output's own extension, alone in a private folder."""
    from exporter.files.publish import atomic_file

    out = tmp_path / "model.onnx"
    with atomic_file(out) as tmp:
        assert tmp.name == "model.onnx" and not tmp.exists()
        assert tmp.parent.parent == tmp_path and list(tmp.parent.iterdir()) == []
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new" and list(tmp_path.iterdir()) == [out]
    with pytest.raises(KeyboardInterrupt), atomic_file(out, force=True) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"new" and list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("fmt", ["npz", "csv"])
def test_existing_output_needs_force(fmt, tmp_path, cli):
    out = tmp_path / f"out.{fmt}"
    exporter.export(hc.seed_weightset(), out)
    before = digest(out)
    with pytest.raises(OutputExistsError):
        exporter.export(hc.seed_weightset(), out)
    source = hc.export_seed(tmp_path, "json")
    result = cli("export", source, "-o", out)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert digest(out) == before
    assert cli("export", source, "-o", out, "--force").exit_code == 0
    assert leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def big_source(tmp_path_factory) -> Path:
    """A ~300 MB plain .npz (stored members), so an export takes a moment."""
    folder = tmp_path_factory.mktemp("big")
    path = folder / "big.npz"
    count = BIG_BYTES // 4 // 6
    rng = np.random.default_rng(0)
    block = rng.standard_normal(count, dtype=np.float32)
    np.savez(path, **{f"layer{i}/kernel": block + i for i in range(6)})
    return path


def _sigint_default() -> None:
    """In the child before exec: a test run from a background job (`make test &`) inherits
    SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_export(source: Path, out: Path, fmt: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "exporter", "export", str(source), "-o", str(out)]
    return subprocess.Popen(
        [*command, "--format", fmt, "--force"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_default,
    )


def _wait_for_temp(folder: Path, proc: subprocess.Popen, min_size: int = 8 << 20) -> Path:
    """The temporary output once it holds min_size bytes (the export is under way)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for path in folder.iterdir():
            if path.name.endswith(".tmp"):
                size = path.stat().st_size if path.is_file() else _tree_size(path)
                if size >= min_size:
                    return path
        if proc.poll() is not None:
            raise AssertionError(
                f"export ended before it could be interrupted: {proc.stderr.read()}"
            )
        time.sleep(0.01)
    raise AssertionError("the export never started writing")


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "csv"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_export_keeps_the_previous_output(big_source, tmp_path, fmt, sig):
    if fmt == "csv" and sig == signal.SIGKILL:
        pytest.skip("one folder format is enough for SIGINT; SIGKILL is the same rename")
    out = tmp_path / f"out.{fmt}"
    exporter.export(hc.seed_weightset(), out, format=fmt)
    before = digest(out)
    proc = _start_export(big_source, out, fmt)
    try:
        _wait_for_temp(tmp_path, proc)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert digest(out) == before, "the previous output changed"
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
        assert leftovers(tmp_path) == [], "SIGINT must clean up its temporary output"
    else:
        assert proc.returncode == -signal.SIGKILL
        stray = leftovers(tmp_path)
        assert all(name.startswith(f".{out.name}.") for name in stray), stray
        # the next run with --force still succeeds, and the stray file is not its output
        exporter.export(hc.seed_weightset(), out, format=fmt, force=True)
        assert exporter.validate(out).ok


def test_no_temp_file_is_left_when_the_source_is_refused(tmp_path, cli):
    source = hc.CORPUS[0].build(tmp_path)  # an empty file
    listing = sorted(os.listdir(tmp_path))
    assert cli("export", source, "-o", tmp_path / "x.npz").exit_code == 3
    assert sorted(os.listdir(tmp_path)) == listing


def test_interrupted_batch_keeps_finished_outputs_and_nothing_else(tmp_path):
    rng = np.random.default_rng(0)
    sources = []
    for i in range(4):
        sources.append(tmp_path / f"m{i}.npz")
        np.savez(sources[-1], w=rng.random(4_000_000, dtype=np.float32))
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-m", "exporter", "export", *map(str, sources), "-o", str(out),
               "--format", "json", "--jobs", "2"]  # fmt: skip
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default
    )
    first = ""
    while "wrote" not in first:  # interrupt once the first output is finished
        first = process.stderr.readline()
        assert first or process.poll() is None, "the batch ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert "finished output(s) kept, the rest were not written" in rest
    assert "Traceback" not in first + rest
    assert leftovers(out) == []
    written = sorted(out.iterdir())
    assert 1 <= len(written) < 4
    assert all(exporter.validate(path).ok for path in written)
