"""C header export (issue 19): 10M float32 -> C header, against the two plain baselines, all
measured in this one invocation.

- exporter: `exporter -q export x.npz -o x.h` in a fresh process (imports and the hash included),
  the installed console script as a user runs it;
- python-loop: a plain script writing `"{:.9g}f".format(v)` per value (numpy load included);
- xxd: `xxd -i` of the raw float32 bytes (the common shortcut: no alignment, bytes only);
- library / loop-in-process: the exporter.export call and the same loop, in this process (no
  interpreter start or imports: the cost of the writing alone; compared with each other).

Each row is the median of --runs runs in a wrapper process (wall time, peak RSS of the child);
ratios are against the medians of the same invocation. The exporter output is checked to read
back bit for bit once (not timed).

    .venv/bin/python bench/c_header.py               # 10M values, 5 runs
    .venv/bin/python bench/c_header.py --values 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import EXPORTER, PY, WRAPPER

ENV = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}

PYTHON_LOOP = """
import sys
import numpy as np

values = np.load(sys.argv[1])
with open(sys.argv[2], "w") as out:
    out.write("static const float weights[%d] = {\\n" % values.size)
    out.write(",\\n".join("{:.9g}f".format(v) for v in values.tolist()))
    out.write("\\n};\\n")
"""


def measure(command: list[str], shell_out: Path | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of command; stdout to shell_out when given (xxd)."""
    if shell_out is not None:
        command = ["sh", "-c", 'exec "$0" "$@" > ' + str(shell_out), *command]
    done = subprocess.run([PY, "-c", WRAPPER, *map(str, command)], capture_output=True,
                          text=True, env=ENV)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
    seconds, rss = done.stdout.split()
    return float(seconds), float(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    xxd = shutil.which("xxd")
    with tempfile.TemporaryDirectory(prefix="bench-c-") as tmp:
        folder = Path(tmp)
        values = np.random.default_rng(0).standard_normal(args.values).astype(np.float32)
        np.save(folder / "x.npy", values)
        values.tofile(folder / "x.bin")
        import exporter

        ws = exporter.WeightSet()
        ws.add(exporter.Tensor.from_array("dense/kernel", values))
        exporter.export(ws, folder / "x.npz")
        rows: dict[str, list[tuple[float, float]]] = {"exporter": [], "python-loop": [], "xxd": []}
        for _ in range(max(args.runs, 1)):
            out = folder / "x.h"
            out.unlink(missing_ok=True)
            rows["exporter"].append(measure([*EXPORTER, "export", folder / "x.npz", "-o", out]))
            loop = [PY, "-c", PYTHON_LOOP, folder / "x.npy", folder / "loop.h"]
            rows["python-loop"].append(measure(loop))
            if xxd:
                rows["xxd"].append(measure([xxd, "-i", folder / "x.bin"], folder / "xxd.h"))
        rows["library"], rows["loop-in-process"] = in_process(ws, values, folder, args.runs)
        back = exporter.load(folder / "x.h")["dense/kernel"].read()
        assert back.tobytes() == values.tobytes(), "the C header does not read back exactly"
        sizes = {
            "exporter": (folder / "x.h").stat().st_size,
            "python-loop": (folder / "loop.h").stat().st_size,
            "xxd": (folder / "xxd.h").stat().st_size if xxd else 0,
        }
        sizes["library"], sizes["loop-in-process"] = sizes["exporter"], sizes["python-loop"]  # fmt: skip
    report(rows, sizes, args)


def in_process(ws, values, folder: Path, runs: int) -> tuple[list, list]:
    """The same two writes as calls in this process (imports and start-up excluded): the
    library's exporter.export and the plain loop. Peak memory is not measured here (0)."""
    import time

    import exporter

    library, loop = [], []
    for index in range(max(runs, 1)):
        out = folder / f"lib{index}.h"
        start = time.perf_counter()
        exporter.export(ws, out)
        library.append((time.perf_counter() - start, 0.0))
        out.unlink()
        start = time.perf_counter()
        with open(folder / "loop2.h", "w") as handle:
            handle.write("static const float weights[%d] = {\n" % values.size)  # noqa: UP031
            handle.write(",\n".join("{:.9g}f".format(v) for v in values.tolist()))  # noqa: UP032
            handle.write("\n};\n")
        loop.append((time.perf_counter() - start, 0.0))
    return library, loop


def report(rows, sizes, args) -> None:
    median = {k: statistics.median(s for s, _ in v) for k, v in rows.items() if v}
    print(f"{args.values:,} float32 -> C header, median of {args.runs} runs "
          f"(load {os.getloadavg()[0]:.2f})")  # fmt: skip
    print(f"{'':16} {'median s':>9} {'min-max s':>13} {'peak MB':>8} {'file MB':>8} "
          f"{'loop/this':>10} {'this/xxd':>9}")  # fmt: skip
    for name, runs in rows.items():
        if not runs:
            print(f"{name:16} (not installed)")
            continue
        seconds = [s for s, _ in runs]
        peak = max(m for _, m in runs)
        baseline = "loop-in-process" if name in ("library", "loop-in-process") else "python-loop"
        versus_loop = median[baseline] / median[name]
        versus_xxd = median[name] / median["xxd"] if "xxd" in median else float("nan")
        print(f"{name:16} {median[name]:9.2f} {min(seconds):6.2f}-{max(seconds):<6.2f} "
              f"{peak:8.0f} {sizes[name] / 1e6:8.0f} {versus_loop:9.1f}x {versus_xxd:8.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
