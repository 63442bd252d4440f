"""ResNet50 (weights=None) to ONNX: `exporter convert` vs calling tf2onnx directly.

Each run is a fresh subprocess; time is wall-clock of the whole process (imports, loading the
.keras file, converting, writing; exporter also checks the result in onnxruntime and matches
weights), peak memory is the child's maximum RSS. Medians over --runs runs.

The baseline is the plain call a user would write: load the model, tf.function with an input
signature, tf2onnx.convert.from_function(..., opset=17), save — with tf2onnx's default settings.
"direct, no catch" is the same call with TF2ONNX_CATCH_ERRORS=FALSE (what exporter sets), shown to
make exporter's own overhead (the onnxruntime check, the weights report) visible.

    .venv/bin/python bench/convert_resnet50.py [--runs 3]

Target: exporter within 1.2x the baseline's time and no more than its peak memory + 10 %.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BUILD = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
keras.utils.set_random_seed(0)
keras.applications.ResNet50(weights=None).save(sys.argv[1])
"""

DIRECT = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, tensorflow as tf, tf2onnx, onnx
model = keras.models.load_model(sys.argv[1])
spec = [tf.TensorSpec((None, 224, 224, 3), tf.float32, name="input_layer")]
function = tf.function(lambda x: model(x, training=False), input_signature=spec)
proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=17)
onnx.save(proto, sys.argv[2])
"""

EXPORTER = [sys.executable, "-m", "exporter", "-q", "convert"]


def run_child(command: list[str]) -> tuple[float, float]:
    """Run command as the only child of a fresh measuring process; return (seconds, peak MB)."""
    code = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "seconds = time.perf_counter() - start\n"
        "if done.returncode not in (0,):\n"
        "    sys.stderr.write(done.stderr.decode()[-3000:]); sys.exit(done.returncode)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(seconds, peak)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *command], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:5])} failed: {done.stderr}")
    seconds, peak = done.stdout.split()
    return float(seconds), float(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = work / "resnet50.keras"
        subprocess.run([sys.executable, "-c", BUILD, str(model)], check=True)
        results: dict[str, list[tuple[float, float]]] = {
            "tf2onnx direct": [],
            "direct, no catch": [],
            "exporter convert": [],
        }
        for run in range(args.runs):
            direct = work / f"direct{run}.onnx"
            results["tf2onnx direct"].append(
                run_child([sys.executable, "-c", DIRECT, str(model), str(direct)])
            )
            results["direct, no catch"].append(
                run_child(["env", "TF2ONNX_CATCH_ERRORS=FALSE", sys.executable, "-c", DIRECT,
                           str(model), str(direct)])
            )  # fmt: skip
            ours = work / f"exporter{run}.onnx"
            results["exporter convert"].append(
                run_child([*EXPORTER, str(model), "-o", str(ours), "--samples", "2"])
            )
            print(f"run {run + 1}: " + ", ".join(
                f"{k} {v[-1][0]:.1f} s {v[-1][1]:.0f} MB" for k, v in results.items()
            ), file=sys.stderr)  # fmt: skip
    base_t = statistics.median(t for t, _ in results["tf2onnx direct"])
    base_m = statistics.median(m for _, m in results["tf2onnx direct"])
    print(f"{'':18} {'time (s)':>9} {'ratio':>6} {'peak MB':>9} {'ratio':>6}")
    for name, rows in results.items():
        t = statistics.median(s for s, _ in rows)
        m = statistics.median(p for _, p in rows)
        print(f"{name:18} {t:9.1f} {t / base_t:6.2f} {m:9.0f} {m / base_m:6.2f}")
    t = statistics.median(s for s, _ in results["exporter convert"])
    m = statistics.median(p for _, p in results["exporter convert"])
    ok = t <= 1.2 * base_t and m <= 1.1 * base_m
    print(f"target (time <= 1.2x, peak <= 1.1x): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
