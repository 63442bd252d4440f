"""`exporter convert` against tf2onnx alone on every constructor of `keras.applications` (issue #13).

For each model (built by tests/keras_corpus.py, weights=None, the smallest input it accepts):

- tf2onnx alone: what a user does by hand: `keras.models.load_model`, a `tf.function` with an
  explicit input signature, `tf2onnx.convert.from_function(..., opset=17)`, then onnxruntime on
  one seeded batch against Keras (atol 1e-4 + rtol 1e-3);
- exporter: `python -m exporter convert model.keras -o model.onnx` (its default check).

    .venv/bin/python bench/keras_convert_corpus.py                       # every constructor
    .venv/bin/python bench/keras_convert_corpus.py MobileNetV3Small VGG16

Prints one row per model and lists every model tf2onnx alone converts that exporter does not
(exit 1 if there is one). Each side runs in its own process with a timeout. Built files are
cached as in bench/keras_corpus.py (`$EXPORTER_CORPUS_CACHE`, default bench/work/keras-corpus).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

import keras_corpus  # noqa: E402

TIMEOUT = 1800


def run(args: list[str]) -> tuple[int, str, str, float]:
    """(exit code, stdout, last stderr line, seconds) of a Python subprocess; 124 on timeout."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {TIMEOUT} s", time.perf_counter() - start
    lines = done.stderr.strip().splitlines()
    return done.returncode, done.stdout, lines[-1] if lines else "", time.perf_counter() - start


def compare_one(folder: Path, name: str) -> dict[str, object]:
    """Both conversions of one application: {direct, direct_error, exporter_exit, exporter_error}."""
    code, _, error, _ = run([str(TESTS / "keras_corpus.py"), "build", str(folder), name])
    if code != 0:
        return {"direct": False, "direct_error": f"build failed: {error}", "exporter_exit": None}
    path = folder / name / keras_corpus.LAYOUTS["keras"]
    with tempfile.TemporaryDirectory() as work:
        code, out, error, t_direct = run(
            [str(TESTS / "keras_corpus.py"), "tf2onnx", str(path), f"{work}/d.onnx"]
        )
        alone = json.loads(out.strip().splitlines()[-1]) if code == 0 and out.strip() else {}
        ours, _, our_error, t_ours = run(
            ["-m", "exporter", "convert", str(path), "-o", f"{work}/e.onnx"]
        )
    return {
        "direct": bool(alone.get("ok")),
        "direct_error": alone.get("error") or (error if code else None),
        "direct_max_abs": alone.get("max_abs"),
        "exporter_exit": ours,
        "exporter_error": our_error if ours else None,
        "seconds": [round(t_direct), round(t_ours)],
    }


def main() -> int:
    """Convert the named applications (default: every constructor) both ways; print the table."""
    base = os.environ.get("EXPORTER_CORPUS_CACHE") or ROOT / "bench" / "work" / "keras-corpus"
    folder = keras_corpus.cache_folder(base)
    names = sys.argv[1:] or [
        n for n in run([str(TESTS / "keras_corpus.py"), "list", "-"])[1].split()
        if n not in keras_corpus.EXAMPLES
    ]  # fmt: skip
    worse = []
    for name in names:
        row = compare_one(folder, name)
        direct = "ok" if row["direct"] else "fail"
        ours = "ok" if row["exporter_exit"] == 0 else f"exit {row['exporter_exit']}"
        print(
            f"{name:20} tf2onnx alone: {direct:4}  exporter: {ours:7}  {row.get('seconds')}",
            flush=True,
        )
        for key in ("direct_error", "exporter_error"):
            if row.get(key):
                print(f"{'':22}{key}: {str(row[key])[:300]}", flush=True)
        if row["direct"] and row["exporter_exit"] != 0:
            worse.append(name)
    print(f"{len(names)} models; tf2onnx alone converts but exporter does not: {worse or 'none'}")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
