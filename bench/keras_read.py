"""Benchmark: `exporter export MODEL -o x.npz` on ResNet50 (.h5, .keras, .onnx) against baselines.

- keras: keras.models.load_model + get_weights() + numpy.savez (what users do without exporter)
- floor: h5py reading every dataset + numpy.savez (the least any reader can do)
- for the ONNX file, both are the plain onnx way: onnx.load + numpy_helper.to_array of every
  initializer + numpy.savez (there is no Keras to load it with)

Every run is a fresh subprocess (imports included, as in a pipeline); wall time and the child's
peak RSS are measured; the table shows medians over --runs runs and ratios to exporter.

    .venv/bin/python bench/keras_read.py [--runs 3] [--folder /tmp/keras_bench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}

MAKE = """
import sys, keras
model = keras.applications.ResNet50(weights=None)
model.save(sys.argv[1]); model.save(sys.argv[2])
"""

KERAS = """
import sys, numpy, keras
model = keras.models.load_model(sys.argv[1], compile=False)
numpy.savez(sys.argv[2], *model.get_weights())
"""

FLOOR = """
import sys, io, zipfile, h5py, numpy
path, out = sys.argv[1], sys.argv[2]
if path.endswith(".keras"):
    with zipfile.ZipFile(path) as archive:
        source = io.BytesIO(archive.read("model.weights.h5"))
else:
    source = path
arrays = {}
with h5py.File(source, "r") as handle:
    handle.visititems(
        lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
    )
numpy.savez(out, **arrays)
"""

ONNX_PLAIN = """
import sys, numpy, onnx
from onnx import numpy_helper
model = onnx.load(sys.argv[1])
numpy.savez(sys.argv[2], **{t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
"""

EXPORTER = """
import sys
from exporter.cli.app import main
sys.argv = ["exporter", "--quiet", "export", sys.argv[1], "-o", sys.argv[2], "--force"]
main()
"""


def run_child(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh interpreter running code."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]])\n"
        "wall = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(wall, peak, done.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, code, *args],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    ).stdout.split()
    wall, peak, code_ = float(out[0]), float(out[1]), int(out[2])
    if code_ != 0:
        raise SystemExit(f"benchmark child failed ({code_}): {args}")
    return wall, peak


def measure(code: str, model: Path, out: Path, runs: int) -> tuple[float, float]:
    results = []
    for _ in range(runs):
        out.unlink(missing_ok=True)
        results.append(run_child(code, str(model), str(out)))
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    from run import compile_bytecode  # bench/run.py, beside this script

    compile_bytecode()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="keras_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    h5, keras_file = folder / "resnet50.h5", folder / "resnet50.keras"
    if not (h5.exists() and keras_file.exists()):
        subprocess.run([sys.executable, "-c", MAKE, str(h5), str(keras_file)], env=ENV, check=True)
    onnx_file = folder / "resnet50.onnx"
    if not onnx_file.exists():
        convert = [sys.executable, "-m", "exporter", "--quiet", "convert", str(keras_file),
                   "-o", str(onnx_file), "--no-validate"]  # fmt: skip
        subprocess.run(convert, env=ENV, check=True)
    rows = []
    for model in (h5, keras_file, onnx_file):
        out = folder / "out.npz"
        started = time.perf_counter()
        exp = measure(EXPORTER, model, out, args.runs)
        if model.suffix == ".onnx":
            base = floor = measure(ONNX_PLAIN, model, out, args.runs)
        else:
            base = measure(KERAS, model, out, args.runs)
            floor = measure(FLOOR, model, out, args.runs)
        rows.append((model.name, exp, base, floor, time.perf_counter() - started))
    print(f"ResNet50 (weights=None), medians of {args.runs} fresh-process runs")
    header = f"{'file':<16}{'variant':<10}{'wall s':>8}{'peak MiB':>10}{'exporter':>22}"
    print(header)
    for name, exp, base, floor, _ in rows:
        variants = (("exporter", exp), ("keras", base), ("floor", floor))
        if name.endswith(".onnx"):
            variants = (("exporter", exp), ("floor", floor))  # onnx.load + to_array + savez
        for label, (wall, peak) in variants:
            ratio = {
                "exporter": "",
                "keras": f"{wall / exp[0]:.1f}x faster",
                "floor": f"{exp[0] / wall:.2f}x the floor",
            }[label]
            print(f"{name:<16}{label:<10}{wall:>8.2f}{peak:>10.0f}{ratio:>22}")


if __name__ == "__main__":
    main()
