"""TFLite -> NPZ (issue 18): exporter against TensorFlow's interpreter, measured in this one
invocation.

A Keras MLP of --width x --width Dense layers (about 100 MB of float32 at the default) is
converted by TensorFlow's converter twice: float32 and dynamic-range int8. Each file is then
exported to NPZ by:

- exporter: `exporter -q export m.tflite -o out.npz` in a fresh process (imports, hashing and the
  manifest included), TensorFlow never imported;
- interpreter: a plain script, `tf.lite.Interpreter(model_path)`, `get_tensor()` of every
  constant tensor (neither a graph input nor an operator output) and `np.savez`.

Each row is the median of --runs runs (wall time, peak RSS of the child). The exporter output is
checked once against the interpreter's values, bit for bit (not timed).

    .venv/bin/python bench/tflite.py                 # ~100 MB model, 3 runs
    .venv/bin/python bench/tflite.py --width 512 --runs 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import EXPORTER, PY, WRAPPER

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

INTERPRETER = """
import sys
import numpy as np
import tensorflow as tf
interpreter = tf.lite.Interpreter(model_path=sys.argv[1])
produced = {i for op in interpreter._get_ops_details() for i in op["outputs"]}
produced |= {d["index"] for d in interpreter.get_input_details()}
arrays = {d["name"]: interpreter.get_tensor(d["index"])
          for d in interpreter.get_tensor_details() if d["index"] not in produced}
np.savez(sys.argv[2], **arrays)
"""

BUILD = """
import sys
import tensorflow as tf

width, layers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tf.keras.utils.set_random_seed(0)
model = tf.keras.Sequential([tf.keras.Input((width,))] +
                            [tf.keras.layers.Dense(width) for _ in range(layers)])
for mode in ("float32", "int8"):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    open(f"{out}/{mode}.tflite", "wb").write(converter.convert())
"""


def measure(command: list[str]) -> tuple[float, float]:
    done = subprocess.run([PY, "-c", WRAPPER, *map(str, command)], capture_output=True,
                          text=True, env=QUIET)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{command[:3]} failed: {done.stderr.strip()[-500:]}")
    seconds, rss = done.stdout.split()
    return float(seconds), float(rss)


def check(exported: Path, baseline: Path) -> None:
    """exporter's arrays equal the interpreter's, bit for bit (names from the baseline)."""
    with np.load(exported) as ours, np.load(baseline) as theirs:
        for name in theirs.files:
            a, b = ours[name], theirs[name]
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tflite-") as tmp:
        folder = Path(tmp)
        subprocess.run([PY, "-c", BUILD, str(args.width), str(args.layers), tmp], check=True,
                       env=QUIET, capture_output=True)  # fmt: skip
        print("| model | size | tool | median s | peak RSS MB | speed-up |")
        print("|---|---|---|---|---|---|")
        for mode in ("float32", "int8"):
            model = folder / f"{mode}.tflite"
            ours, theirs = folder / f"{mode}-exporter.npz", folder / f"{mode}-interp.npz"
            rows = {}
            for tool, command in (
                ("exporter", [*EXPORTER, "export", model, "-o", ours, "--force"]),
                ("interpreter", [PY, "-c", INTERPRETER, model, theirs]),
            ):
                runs = [measure(command) for _ in range(args.runs)]
                rows[tool] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs))
            check(ours, theirs)
            size = f"{model.stat().st_size / 1e6:.0f} MB"
            for tool, (seconds, rss) in rows.items():
                ratio = rows["interpreter"][0] / seconds
                print(f"| {mode} | {size} | {tool} | {seconds:.2f} | {rss:.0f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
