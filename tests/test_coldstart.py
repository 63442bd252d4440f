"""Cold start: commands on float32 models never import ml_dtypes (issue #16).

ml_dtypes costs 0.5-1.3 s to import; exporter imports it only when a bfloat16/float8 tensor is
met (exporter/dtypes.py `extra_dtype`). Each command runs in a fresh process through the CLI's
main; a wrapper then records which modules were loaded. The bfloat16 runs are the positive
control: the same wrapper does see ml_dtypes when a tensor needs it, and the values survive.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hostile_corpus import BIAS, KERNEL, legacy_h5

import exporter
from exporter.core.weightset import Tensor, WeightSet

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("ml_dtypes", "tensorflow", "keras", "onnx", "pydantic", "jsonschema")
TIMEOUT = 120

PROBE = textwrap.dedent(
    """
    import json, os, sys
    sys.argv = ["exporter", *sys.argv[1:]]
    from exporter.cli.app import main
    try:
        main()
    finally:
        loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(os.environ["HEAVY"])))
        with open(os.environ["PROBE_OUT"], "w") as f:
            json.dump(loaded, f)
    """
)


def run_probe(tmp_path: Path, *args: object) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run `exporter ARGS` in a fresh process; (the finished process, heavy modules it loaded)."""
    out = tmp_path / "probe.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "PROBE_OUT": str(out), "HEAVY": json.dumps(HEAVY)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=TIMEOUT,
    )
    return done, json.loads(out.read_text())


def float32_npz(folder: Path) -> Path:
    """A float32 export (NPZ with manifest) of a small Dense layer."""
    ws = WeightSet(
        [Tensor.from_array("dense/kernel", KERNEL), Tensor.from_array("dense/bias", BIAS)]
    )
    exporter.export(ws, folder / "f32.npz")
    return folder / "f32.npz"


def test_version_of_the_console_script_does_not_import_ml_dtypes(tmp_path):
    script = Path(sys.executable).parent / "exporter"
    if not script.exists():
        pytest.skip("the exporter console script is not installed next to this Python")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", script, "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0 and done.stdout.startswith("exporter "), done
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "typer" in imported  # the importtime listing is real
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
    assert "numpy" not in imported  # --version needs neither the readers nor numpy


def test_library_import_and_plain_dtypes_do_not_import_ml_dtypes(tmp_path):
    code = (
        "import sys, numpy as np, exporter\n"
        "from exporter.core.dtypes import dtype_from_name, dtype_name, is_float\n"
        "assert dtype_name(np.float32) == 'float32' and is_float(np.float16)\n"
        "assert not is_float(np.dtype('V2')) and dtype_from_name('int64') == np.int64\n"
        "assert 'ml_dtypes' not in sys.modules\n"
        "assert dtype_from_name('bfloat16').name == 'bfloat16' and 'ml_dtypes' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=TIMEOUT)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("source", ["npz", "h5"])
def test_float32_commands_do_not_import_ml_dtypes(tmp_path, source):
    path = float32_npz(tmp_path) if source == "npz" else legacy_h5(tmp_path / "f32.h5")
    out = tmp_path / "out.npz"
    runs = [
        ["--version"],
        ["inspect", path],
        ["inspect", "--json", path],
        ["export", path, "-o", out],
        ["export", path, "-o", tmp_path / "out.safetensors"],
        ["validate", out],
        ["diff", path, out],
    ]
    for args in runs:
        done, loaded = run_probe(tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
        assert loaded == [], (args, loaded)
    assert np.array_equal(np.load(out)["dense/kernel"], KERNEL)


def bfloat16_legacy_h5(path: Path) -> Path:
    """Layout A with the kernel stored as bfloat16 the legacy way: opaque |V2, no dtype attr."""
    legacy_h5(path)
    import h5py

    kernel = KERNEL.astype(ml_dtypes.bfloat16)
    with h5py.File(path, "r+") as f:
        group = f["model_weights/dense"]
        del group["seq/dense/kernel"]
        group["seq/dense/kernel"] = kernel.view(np.uint16).view("V2")
    return path


def test_bfloat16_still_reads_and_writes_and_the_probe_sees_ml_dtypes(tmp_path):
    half = np.array([[1.0, -2.5], [0.1, 3e38]], ml_dtypes.bfloat16)
    ws = WeightSet([Tensor.from_array("half", half), Tensor.from_array("plain", BIAS)])
    exporter.export(ws, tmp_path / "bf16.npz")
    h5 = bfloat16_legacy_h5(tmp_path / "bf16.h5")
    for source, name, expected in ((tmp_path / "bf16.npz", "half", half),
                                   (h5, "dense/kernel", KERNEL.astype(ml_dtypes.bfloat16))):  # fmt: skip
        for fmt in ("npz", "safetensors", "json"):
            out = tmp_path / f"{source.suffix[1:]}-out.{fmt}"
            done, loaded = run_probe(tmp_path, "export", source, "-o", out)
            assert done.returncode == 0, done.stderr
            assert "ml_dtypes" in loaded  # the positive control: the probe does see it
            done, _ = run_probe(tmp_path, "validate", out)
            assert done.returncode == 0, done.stderr
            tensor = exporter.load(out)[name]
            assert tensor.dtype == np.dtype(ml_dtypes.bfloat16)
            assert tensor.read().tobytes() == expected.tobytes()
