"""Benchmark: what kernel_copy.OutputFile's two measures are worth, on the 1 GB model of run.py.

`exporter export big.h5 -o out.FMT --force` in four variants, run interleaved (so a slow phase
of the machine hits every row), each timed by run.py's measure() (a fresh process after an
untimed os.sync()):

- from memory:         tensors written with write() from their memory map, and all of the file
                       written back at the rename (what exporter did before)
- + kernel copy:       mapped tensors copied from the source file with copy_file_range
- + early write-back:  every 64 MiB written handed to the kernel for write-back at once
- both:                what exporter does
- cp:                  coreutils cp of the same file over an existing copy

The table shows the median, fastest and slowest wall time of each, and the median as a ratio
to cp's.

    .venv/bin/python bench/write_paths.py [--runs 8] [--folder DIR] [--format npz]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # run.py's model builder, bytecode step and measure()

VARIANT = r"""
import os, sys
from exporter.files import kernel_copy
if "nocopy" in sys.argv[1]:
    os.environ["EXPORTER_NO_KERNEL_COPY"] = "1"  # OutputFile then writes from memory
if "lateback" in sys.argv[1]:
    kernel_copy.WRITEBACK_BYTES = 1 << 62  # nothing is handed over before the rename
from exporter.cli.app import main
sys.argv = ["exporter", *sys.argv[2:]]
main()
"""

VARIANTS = {
    "from memory": "nocopy,lateback",
    "+ kernel copy": "lateback",
    "+ early write-back": "nocopy",
    "both (exporter)": "",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--folder", type=Path, help="work folder (kept; the model is reused)")
    parser.add_argument("--format", default="npz", choices=["npz", "safetensors", "json"])
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="exporter-write-paths-"))
    folder.mkdir(parents=True, exist_ok=True)
    bench.compile_bytecode()
    runner = bench.Bench(folder, args.runs, False, ["big"])
    runner.keras_models(resnet=False, big=True)
    source = runner.path("big.h5")
    out = folder / f"write-paths.{args.format}"
    commands = {
        label: [bench.PY, "-c", VARIANT, flags or "-", "export", str(source), "-o", str(out), "-f"]
        for label, flags in VARIANTS.items()
    }
    commands["cp"] = ["cp", str(source), str(folder / "write-paths-copy")]
    for command in commands.values():
        bench.measure(command)  # warm-up: from here on every run replaces an existing output
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, command in commands.items():
            times[label].append(bench.measure(command)[0])
    size = source.stat().st_size >> 20
    cp = statistics.median(times["cp"])
    print(f"{size} MB .h5 -> {args.format}, {args.runs} runs each, interleaved\n")
    print("| variant | median | fastest | slowest | median / cp |")
    print("|---|---|---|---|---|")
    for label, values in times.items():
        median = statistics.median(values)
        print(
            f"| {label} | {median:.2f} s | {min(values):.2f} s | {max(values):.2f} s "
            f"| {median / cp:.2f}x |"
        )


if __name__ == "__main__":
    main()
