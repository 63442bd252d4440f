"""The whole Keras corpus: every constructor of `keras.applications` (found at run time) and the
standard example architectures, in `.keras`, legacy `.h5` and `.weights.h5`, read by exporter's
direct reader with TensorFlow blocked and compared bit for bit with Keras (issue #13).

    .venv/bin/python bench/keras_corpus.py                     # everything (long: ~55 models)
    .venv/bin/python bench/keras_corpus.py ResNet50 bilstm_text
    make corpus                                                # the same as the first line

Models are built by tests/keras_corpus.py, one process per model (memory of the big ones is
given back), into `$EXPORTER_CORPUS_CACHE` (default bench/work/keras-corpus), keyed by Keras
version and the builders' digest, so a second run only reads. `--drop` deletes each model's
files once read (the biggest applications take gigabytes). Prints one row per model x layout:
ok, warn (names uncertain and said so, order and values right) or FAIL with what differs, then
the totals; `--json OUT` writes the same rows. Exit 1 if any row failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
sys.path.insert(0, str(TESTS))

import keras_corpus  # noqa: E402

BUILD_TIMEOUT = 1800
READ_TIMEOUT = 1200


def corpus(*args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run tests/keras_corpus.py with args in a new process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, str(TESTS / "keras_corpus.py"), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip


def build_and_read(folder: Path, name: str) -> dict[str, tuple[str, str]]:
    """{layout: (status, detail)} for one model; building or reading errors become FAIL rows."""
    try:
        built = corpus("build", str(folder), name, timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"build": ("FAIL", f"build took over {BUILD_TIMEOUT} s")}
    if built.returncode != 0:
        return {"build": ("FAIL", "build failed: " + built.stderr.strip().splitlines()[-1][:300])}
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "read.json"
        try:
            done = corpus("read", str(folder), str(out), name, timeout=READ_TIMEOUT)
        except subprocess.TimeoutExpired:
            return {"read": ("FAIL", f"reading took over {READ_TIMEOUT} s")}
        if done.returncode != 0:
            return {"read": ("FAIL", "reader process died: " + done.stderr.strip()[-300:])}
        got = json.loads(out.read_text())[name]
    record = json.loads((folder / name / keras_corpus.EXPECTED).read_text())
    rows = {}
    for layout, state in record["layouts"].items():
        rows[layout] = (
            keras_corpus.compare(record["weights"], got[layout])
            if state == "ok"
            else ("n/a", state)
        )
    problems = (
        keras_corpus.h5_mismatches(folder / name)[0] if rows.get("h5", ("",))[0] != "n/a" else []
    )
    if problems:
        rows["h5-names"] = ("FAIL", f"expected names differ from the .h5's: {problems[:3]}")
    return rows


def print_row(name: str, rows: dict[str, tuple[str, str]]) -> None:
    """One line per model: the status of each layout, then the details of what was not ok."""
    cells = "  ".join(f"{layout}:{status:<4}" for layout, (status, _) in rows.items())
    print(f"{name:24} {cells}", flush=True)
    for layout, (status, detail) in rows.items():
        if status != "ok":
            print(f"{'':26}{layout}: {detail}", flush=True)


def main() -> int:
    """Build, read and compare the named models (default: all); print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="example or constructor names (default: all)")
    parser.add_argument("--drop", action="store_true", help="delete each model's files once read")
    parser.add_argument("--json", type=Path, help="write the rows as JSON here")
    args = parser.parse_args()
    base = os.environ.get("EXPORTER_CORPUS_CACHE") or ROOT / "bench" / "work" / "keras-corpus"
    folder = keras_corpus.cache_folder(base)
    names = args.models or corpus("list", "-", timeout=300).stdout.split()
    table, start = {}, time.perf_counter()
    for name in names:
        table[name] = build_and_read(folder, name)
        print_row(name, table[name])
        if args.drop:
            shutil.rmtree(folder / name, ignore_errors=True)
    statuses = [status for rows in table.values() for status, _ in rows.values()]
    counts = {s: statuses.count(s) for s in ("ok", "warn", "n/a", "FAIL")}
    print(f"{len(names)} models, {counts} in {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
