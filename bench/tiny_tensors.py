"""Benchmark: 50,000 tiny tensors (.npz -> .npz), exporter against the plain numpy script
(`dict(np.load(f))` + `np.savez`), both in fresh processes, in the same invocation.

    .venv/bin/python bench/tiny_tensors.py --runs 5 [--count 50000]

Prints median wall and CPU seconds of each and their ratio (per-tensor overhead).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PLAIN = "import numpy as np, sys; d = dict(np.load(sys.argv[1])); np.savez(sys.argv[2], **d)"


def _run(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("exporter"))
    with tempfile.TemporaryDirectory() as folder:
        src = Path(folder) / "tiny.npz"
        rng = np.random.default_rng(0)
        np.savez(
            src, **{f"layer{i}/w": rng.normal(size=4).astype(np.float32) for i in range(args.count)}
        )
        rows = {"exporter": [], "plain": []}
        for _ in range(args.runs):
            rows["exporter"].append(
                _run([exe, "-q", "export", str(src), "-o", f"{folder}/e.npz", "--force"])
            )
            rows["plain"].append(_run([sys.executable, "-c", PLAIN, str(src), f"{folder}/p.npz"]))
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in rows.items()
    }
    print(f"{args.count:,} tiny float32 tensors, .npz -> .npz, medians of {args.runs} runs")
    for name, (wall, cpu) in med.items():
        print(f"  {name:9s} wall {wall:.2f} s  CPU {cpu:.2f} s")
    print(f"  ratio     wall {med['exporter'][0] / med['plain'][0]:.2f}x  "
          f"CPU {med['exporter'][1] / med['plain'][1]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
