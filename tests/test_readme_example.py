"""The README's Python example runs as printed: every ```python block of README.md, in a fresh
interpreter, in a folder holding the model files it names (built here, small)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import hostile_corpus as hc
import pytest

import exporter

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300
# What a block reads: the file names it passes to load/inspect/validate/export as the source.
READS = re.compile(r"exporter\.(?:load|inspect|export|export_many)\(\s*\"([^\"]+)\"")
BUILDERS = {  # a small model file of each kind a README example may name, built without TF
    ".keras": hc.keras_zip,
    ".h5": hc.legacy_h5,
    ".onnx": hc.onnx_file,
    ".skops": hc.skops_file,
}


def python_blocks() -> list[str]:
    """The ```python blocks of README.md, as printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def run_block(block: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", block], cwd=folder, capture_output=True,
                          text=True, timeout=TIMEOUT, env=env)  # fmt: skip


def test_the_readme_has_a_python_example():
    blocks = python_blocks()
    assert blocks, "README.md has no ```python block: this test would test nothing"
    assert all("import exporter" in block for block in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_the_readme_python_example_runs(tmp_path, index):
    block = python_blocks()[index]
    sources = READS.findall(block)
    for name in sources:
        suffix = Path(name).suffix
        assert suffix in BUILDERS, f"the README example reads {name}: add a builder for {suffix}"
        BUILDERS[suffix](tmp_path / name)
    result = run_block(block, tmp_path)
    assert result.returncode == 0, f"README python block {index + 1}:\n{block}\n{result.stderr}"
    for name in sources:  # what it printed of each tensor is the model's tensors, in order
        tensors = exporter.load(tmp_path / name)
        for tensor in tensors:
            assert f"{tensor.name} {tensor.shape} {tensor.dtype}" in result.stdout, result.stdout
    for written in set(re.findall(r"\"([^\"/]+\.(?:npz|json|safetensors))\"", block)):
        assert exporter.validate(tmp_path / written).ok  # what it wrote is an export


@pytest.mark.slow
def test_the_readme_python_example_runs_on_a_model_keras_saved(tmp_path):
    """The same, with model.keras saved by Keras itself (`exporter train keras`), not by hand."""
    (block,) = [b for b in python_blocks() if '"model.keras"' in b] or [None]
    if block is None:
        pytest.skip("no README python block reads model.keras")
    pytest.importorskip("tensorflow")
    train = [sys.executable, "-m", "exporter", "-q", "train", "keras", "-o", "model.keras",
             "--layers", "4", "--epochs", "1"]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    made = subprocess.run(train, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
                          env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    result = run_block(block, tmp_path)
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == [t.name for t in exporter.load(tmp_path / "model.keras")]
    assert names[:2] == ["dense/kernel", "dense/bias"]
    assert exporter.validate(tmp_path / "weights.npz").ok
