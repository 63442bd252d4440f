"""exporter benchmarks against the plain-library baselines (`make bench`).

Every measured command runs as the only child of a small wrapper process, which reports wall time,
CPU time (user + system) and the child's peak RSS (resource.RUSAGE_CHILDREN), so imports count and
the benchmark process's own memory does not. exporter runs as a user runs it: the installed console
script in a fresh process. Each row is the median of --runs runs (>= 3) and a ratio against the
baseline measured in the same invocation; the table quotes every row's spread (min/median/max) and
the 1-minute load average when it ran. Models are built here (no downloads).

    .venv/bin/python bench/run.py                    # everything (~15 min on 2 cores)
    .venv/bin/python bench/run.py --quick            # smaller sizes, for a smoke run
    .venv/bin/python bench/run.py --only json,csv    # parts: resnet big json csv coldstart convert

The table is printed and written to bench/results.md with a description of the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
ENV.pop("SOURCE_DATE_EPOCH", None)
SCRIPT = Path(PY).parent / "exporter"  # the installed console script, as a user runs it
EXPORTER = [SCRIPT, "-q"] if SCRIPT.exists() else [PY, "-m", "exporter", "-q"]
PARTS = ("resnet", "big", "json", "csv", "coldstart", "convert")

WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if done.returncode:
    sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
    sys.exit(done.returncode)
out = done.stdout.decode().strip().splitlines()
print(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out[-1] if out else "")
"""


class Failed(Exception):
    pass


def measure(command: list, env: dict | None = None) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS MB, last stdout line, CPU seconds) of command run in a wrapper
    process (env: the environment, ENV by default).

    Dirty pages are flushed first (os.sync, not timed), so one run's write-back does not land
    in the next one's time: a 1 GB export otherwise varies 2x with what ran before it."""
    os.sync()
    done = subprocess.run(
        [PY, "-c", WRAPPER, *map(str, command)], capture_output=True, text=True, env=env or ENV
    )
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failed(last[:200])
    seconds, peak, cpu, *rest = done.stdout.split(maxsplit=3)
    return float(seconds), float(peak), rest[0].strip() if rest else "", float(cpu)


def medians(command: list, runs: int, env: dict | None = None) -> dict:
    """Median wall time, CPU time, peak MB and (if the command prints one) its own timing over
    runs, after one warm-up run that is not counted (as hyperfine --warmup 1): for the baselines
    and for exporter alike, every counted run replaces the output of the run before it.
    "times" keeps every run's wall time (the spread), "load" the 1-minute load average."""
    measure(command, env)
    return summarize([measure(command, env) for _ in range(runs)])


def summarize(rows: list[tuple[float, float, str, float]]) -> dict:
    """The medians, spread and load of measure() results."""
    result = {
        "time": statistics.median(r[0] for r in rows),
        "peak": statistics.median(r[1] for r in rows),
        "cpu": statistics.median(r[3] for r in rows),
        "times": sorted(r[0] for r in rows),
        "load": os.getloadavg()[0],
    }
    inner = [float(r[2]) for r in rows if re.fullmatch(r"[0-9.eE+-]+", r[2] or "x")]
    if inner:
        result["inner"] = statistics.median(inner)
    return result


def spread(result: dict) -> str:
    """min/median/max wall seconds of a medians() result."""
    times = result["times"]
    return f"{times[0]:.2f}/{result['time']:.2f}/{times[-1]:.2f}"


def spreads(ours: dict, base: dict | None = None) -> dict:
    """The row fields that quote the spread of both sides and the load while they ran."""
    text = spread(ours) + (f" vs {spread(base)}" if base else "")
    loads = [ours["load"]] + ([base["load"]] if base else [])
    return {"spread": text, "load": f"{max(loads):.2f}"}


def run_python(code: str, *args) -> None:
    subprocess.run([PY, "-c", code, *map(str, args)], check=True, env=ENV)


# ---------------------------------------------------------------- model builders

KERAS_MODELS = """
import sys, keras
width, layers, resnet, small, big = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
keras.utils.set_random_seed(0)
if resnet != "-":
    keras.applications.ResNet50(weights=None).save(resnet)
tiny = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(2)])
tiny.save(small)
if big != "-":
    model = keras.Sequential(
        [keras.Input((width,))] + [keras.layers.Dense(width) for _ in range(layers)]
    )
    model.save(big)
"""

ONNX_MODEL = """
import sys, numpy as np, onnx
from onnx import TensorProto, helper
width, layers, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
data_name = path.rsplit("/", 1)[-1] + ".data"
rng = np.random.default_rng(0)
inits, nodes, offset, name = [], [], 0, "x"
with open(path + ".data", "wb") as data:
    for i in range(layers):
        for suffix, shape in (("kernel", (width, width)), ("bias", (width,))):
            array = rng.standard_normal(shape, dtype=np.float32)
            data.write(array.tobytes())
            tensor = TensorProto(name=f"dense_{i}/{suffix}", data_type=TensorProto.FLOAT)
            tensor.dims.extend(shape)
            for key, value in (("location", data_name), ("offset", offset), ("length", array.nbytes)):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, str(value)
            tensor.data_location = TensorProto.EXTERNAL
            offset += array.nbytes
            inits.append(tensor)
            del array
        nodes.append(helper.make_node("MatMul", [name, f"dense_{i}/kernel"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"dense_{i}/bias"], [f"y{i}"]))
        name = f"y{i}"
graph = helper.make_graph(
    nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
    [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, width])], initializer=inits,
)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
"""

KERAS_BASELINE = """
import sys, time, numpy as np, keras
model = keras.models.load_model(sys.argv[1], compile=False)
np.savez(sys.argv[2], *model.get_weights())
"""

H5_FLOOR = """
import sys, h5py, numpy as np
arrays = {}
with h5py.File(sys.argv[1], "r") as f:
    f["model_weights"].visititems(
        lambda name, obj: arrays.__setitem__(name.replace("/", "_"), obj[()])
        if isinstance(obj, h5py.Dataset) else None
    )
np.savez(sys.argv[2], **arrays)
"""

TEXT_WRITERS = """
import json, sys, time, numpy as np
kind, source, out = sys.argv[1:4]
array = np.load(source)
if kind.startswith("exporter"):
    import exporter
    import exporter.writers
    exporter.writers.writers()  # imports done before the clock starts, as for the others
elif kind == "pyarrow":
    import pyarrow as pa, pyarrow.csv as pc
start = time.perf_counter()
if kind == "exporter-json" or kind == "exporter-csv":
    ws = exporter.WeightSet([exporter.Tensor.from_array("values", array)])
    exporter.export(ws, out, format=kind.split("-")[1], force=True)
elif kind == "json.dumps":
    with open(out, "w") as f:
        f.write(json.dumps(array.tolist()))
elif kind == "np.savetxt":
    np.savetxt(out, array)
elif kind == "pyarrow":
    pc.write_csv(pa.table({"values": array}), out)
print(time.perf_counter() - start)
"""


# ---------------------------------------------------------------- parts


class Bench:
    def __init__(self, work: Path, runs: int, quick: bool, parts: list[str]):
        self.work, self.runs, self.quick, self.parts = work, runs, quick, parts
        self.rows: list[dict] = []
        self.notes: list[str] = []

    def row(self, name, ours, base, base_name, ratio, target, met, peak="", note="",
            spread="", load=""):  # fmt: skip
        line = dict(
            name=name, ours=ours, base=base, base_name=base_name, ratio=ratio,
            target=target, met=met, spread=spread, load=load, peak=peak, note=note,
        )  # fmt: skip
        self.rows.append(line)
        print(" | ".join(str(v) for v in line.values()), file=sys.stderr, flush=True)

    def path(self, name: str) -> Path:
        return self.work / name

    def keras_models(self, resnet: bool, big: bool) -> None:
        wanted = [self.path("small.h5")]
        wanted += [self.path("resnet50.h5")] if resnet else []
        wanted += [self.path("big.h5")] if big else []
        if all(p.exists() for p in wanted):
            return
        # one TensorFlow start for every Keras model this invocation needs
        resnet = "resnet" in self.parts and not self.path("resnet50.h5").exists()
        big = "big" in self.parts and not self.path("big.h5").exists()
        width, layers = (2048, 4) if self.quick else (8192, 4)
        print(f"building Keras models ({width}x{width} x {layers} Dense) ...", file=sys.stderr)
        run_python(
            KERAS_MODELS, width, layers,
            self.path("resnet50.h5") if resnet else "-", self.path("small.h5"),
            self.path("big.h5") if big else "-",
        )  # fmt: skip

    def onnx_model(self) -> Path:
        path = self.path("big.onnx")
        if not path.exists():
            width, layers = (2048, 4) if self.quick else (8192, 4)
            run_python(ONNX_MODEL, width, layers, path)
        return path

    def exporter_export(self, source: Path, out: Path) -> list[str]:
        return [*EXPORTER, "export", source, "-o", out, "--force"]

    def resnet(self) -> None:
        self.keras_models(resnet=True, big=False)
        h5, out = self.path("resnet50.h5"), self.path("out.npz")
        try:
            ours = medians(self.exporter_export(h5, out), self.runs)
        except Failed as exc:
            self.row("ResNet50 .h5 -> NPZ", "failed", "", "", "", "", "no", note=str(exc))
            return
        keras = medians([PY, "-c", KERAS_BASELINE, h5, self.path("k.npz")], self.runs)
        floor = medians([PY, "-c", H5_FLOOR, h5, self.path("f.npz")], self.runs)
        speedup = keras["time"] / ours["time"]
        self.row(
            "ResNet50 .h5 -> NPZ", f"{ours['time']:.2f} s", f"{keras['time']:.2f} s",
            "load_model+get_weights+savez", f"{speedup:.1f}x faster", ">= 5x faster",
            yes(speedup >= 5), f"{ours['peak']:.0f} vs {keras['peak']:.0f} MB",
            **spreads(ours, keras),
        )  # fmt: skip
        ratio = ours["time"] / floor["time"]
        self.row(
            "ResNet50 .h5 -> NPZ", wall_cpu(ours), wall_cpu(floor),
            "h5py every dataset + savez", f"{ratio:.2f}x the time", "<= 1.5x", yes(ratio <= 1.5),
            f"{ours['peak']:.0f} vs {floor['peak']:.0f} MB", **spreads(ours, floor),
        )  # fmt: skip

    def big(self) -> None:
        self.keras_models(resnet=False, big=True)
        sources = {".h5": [self.path("big.h5")]}
        onnx_path = self.onnx_model()
        sources[".onnx (external data)"] = [onnx_path, Path(str(onnx_path) + ".data")]
        width = 2048 if self.quick else 8192
        largest_mb = width * width * 4 / (1 << 20)
        copies = self.work / "copies"
        copies.mkdir(exist_ok=True)
        for label, files in sources.items():
            size_mb = sum(f.stat().st_size for f in files) / (1 << 20)
            copy = medians(
                ["cp", *files, copies], max(self.runs, 5)
            )  # bimodal on this VM: 5 runs at least
            for fmt in ("npz", "safetensors"):
                out = self.path(f"big-out.{fmt}")
                name = f"{size_mb:.0f} MB {label} -> {fmt}"
                try:
                    ours = medians(self.exporter_export(files[0], out), max(self.runs, 5))
                except Failed as exc:
                    self.row(name, "failed", "", "", "", "", "no", note=str(exc))
                    continue
                ratio = ours["time"] / copy["time"]
                bound = largest_mb + 300
                self.row(
                    name, wall_cpu(ours), wall_cpu(copy), "cp of the same bytes",
                    f"{ratio:.2f}x the time", "<= 3x", yes(ratio <= 3),
                    f"{ours['peak']:.0f} MB (bound {bound:.0f} = largest {largest_mb:.0f} + 300)",
                    "" if ours["peak"] <= bound else "peak over bound", **spreads(ours, copy),
                )  # fmt: skip
                out.unlink(missing_ok=True)

    def text(self, fmt: str) -> None:
        values = 1_000_000 if self.quick else 10_000_000
        source = self.path("values.npy")
        if not source.exists():
            run_python(
                "import sys, numpy as np; np.save(sys.argv[1], np.random.default_rng(0)"
                ".standard_normal(int(sys.argv[2]), dtype=np.float32))",
                source, values,
            )  # fmt: skip
        mb = values * 4 / 1e6
        out = self.path(f"text-out.{fmt}") if fmt == "json" else self.path("text-out-csv")
        ours = medians([PY, "-c", TEXT_WRITERS, f"exporter-{fmt}", source, out], self.runs)
        ours_rate = mb / ours["inner"]
        shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
        baselines = ["json.dumps"] if fmt == "json" else ["np.savetxt", "pyarrow"]
        for base in baselines:
            if base == "pyarrow" and not has("pyarrow"):
                self.notes.append("pyarrow is not installed: CSV vs pyarrow skipped "
                                  "(pip install 'exporter[bench]').")  # fmt: skip
                continue
            other = medians([PY, "-c", TEXT_WRITERS, base, source, self.path("b.txt")], self.runs)
            rate = mb / other["inner"]
            speedup = ours_rate / rate
            target = "not slower" if base == "pyarrow" else ">= 10x faster"
            met = speedup >= (0.95 if base == "pyarrow" else 10)
            self.row(
                f"{values / 1e6:.0f}M float32 -> {fmt.upper()}", f"{ours_rate:.0f} MB/s",
                f"{rate:.0f} MB/s", base, f"{speedup:.1f}x faster", target, yes(met),
                f"{ours['peak']:.0f} vs {other['peak']:.0f} MB", **spreads(ours, other),
            )  # fmt: skip

    def coldstart(self) -> None:
        """Fresh-process rows as a user meets them: the console script, with the package's
        bytecode compiled (as a wheel install) and without it (an editable checkout, or an
        install with --no-compile), each against a plain-library baseline run interleaved."""
        sources = self.coldstart_sources()
        runs = max(self.runs, 5)
        cases = [
            ("exporter --version", ["--version"], "numpy", 2.0),
            ("exporter inspect small .npz", ["inspect", sources["npz"]], "numpy", 2.0),
            ("exporter inspect small ONNX", ["inspect", sources["onnx"]], "onnx", 1.3),
            ("exporter inspect small .h5", ["inspect", sources["h5"]], "h5py", 2.0),
        ]
        fresh = self.no_bytecode_env()
        commands = {name: ([*EXPORTER, *args], None) for name, args, _, _ in cases}
        commands |= {f"{name}, no bytecode": ([*EXPORTER, *args], fresh)
                     for name, args, _, _ in cases[:2]}  # fmt: skip
        commands |= {key: (command, None) for key, command in COLD_BASELINES.items()}
        commands["imports, no bytecode"] = (COLD_BASELINES["imports"], fresh)
        try:
            results = interleaved(commands, runs)
        except Failed as exc:
            self.row("cold start", "failed", "", "", "", "", "no", note=str(exc))
            return
        for name, args, base, target in cases:
            self.cold_row(name, [*EXPORTER, *args], results, base, target)
        for name, args, base, target in cases[:2]:
            self.cold_row(f"{name}, no bytecode", [*EXPORTER, *args], results, base, target)
        share = results["imports"]
        self.row(
            'cold start: import share (python -c "import exporter.cli.app")',
            wall_cpu(share), wall_cpu(results["numpy"]), COLD_NAMES["numpy"],
            f"{share['time'] / results['numpy']['time']:.2f}x the time "
            f"(CPU {share['cpu'] / results['numpy']['cpu']:.2f}x)", "(report)", "",
            f"{share['peak']:.0f} vs {results['numpy']['peak']:.0f} MB", **spreads(share),
        )  # fmt: skip

    def cold_row(self, name: str, command: list, results: dict, base: str, target: float) -> None:
        """One cold-start row: ratio to its baseline, the import share, and any heavy import."""
        ours, other = results[name], results[base]
        ratio = ours["time"] / other["time"]
        share = results["imports, no bytecode" if "no bytecode" in name else "imports"]
        loaded, slowest = import_profile(command)
        heavy = {"tensorflow", "keras"} | ({"ml_dtypes"} if base != "onnx" else set())
        unwanted = sorted(loaded & heavy)  # onnx imports ml_dtypes itself
        self.row(
            f"cold start: {name}", wall_cpu(ours), wall_cpu(other), COLD_NAMES[base],
            f"{ratio:.2f}x the time (CPU {ours['cpu'] / other['cpu']:.2f}x)", f"<= {target:g}x",
            yes(ratio <= target), f"{ours['peak']:.0f} vs {other['peak']:.0f} MB",
            f"importing exporter.cli.app alone: {share['time']:.2f} s" + (f"; imports {unwanted}!" if unwanted else ""),
            **spreads(ours, other),
        )  # fmt: skip
        self.notes.append(f"{name}: slowest imports (cumulative ms) {slowest}")

    def coldstart_sources(self) -> dict[str, Path]:
        """A small .h5 (Keras), .npz (its export) and ONNX model for the cold-start rows."""
        self.keras_models(resnet=False, big=False)
        sources = {"h5": self.path("small.h5"), "npz": self.path("small.npz"),
                   "onnx": self.path("small.onnx")}  # fmt: skip
        if not sources["onnx"].exists():
            run_python(ONNX_MODEL, 16, 2, sources["onnx"])
        if not sources["npz"].exists():
            measure([*EXPORTER, "export", sources["h5"], "-o", sources["npz"]])
        return sources

    def no_bytecode_env(self) -> dict:
        """An environment that runs exporter from a copy of the package without __pycache__ and
        never writes one (PYTHONDONTWRITEBYTECODE): every run compiles exporter's modules, as
        the first command of an install without bytecode does. Other packages keep theirs."""
        import exporter

        target = self.path("no-bytecode")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(exporter.__file__).parent, target / "exporter",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        path = os.pathsep.join(filter(None, [str(target), ENV.get("PYTHONPATH")]))
        return {**ENV, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}

    def convert(self) -> None:
        script = HERE / "convert_resnet50.py"
        if not script.exists():
            self.notes.append(
                "exporter convert vs tf2onnx skipped: bench/convert_resnet50.py absent"
            )
            return
        done = subprocess.run(
            [PY, script, "--runs", str(self.runs)], capture_output=True, text=True, env=ENV
        )
        lines = {
            line.split()[0] + " " + line.split()[1]: line.split()[2:]
            for line in done.stdout.splitlines()
            if line.startswith(("exporter convert", "tf2onnx direct"))
        }
        if done.returncode or len(lines) != 2:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
            self.row("ResNet50 convert", "failed", "", "", "", "", "no", note=tail)
            return
        ours, base = lines["exporter convert"], lines["tf2onnx direct"]
        ratio = float(ours[1])
        self.row(
            "ResNet50 -> ONNX (convert + check)", f"{float(ours[0]):.1f} s",
            f"{float(base[0]):.1f} s", "tf2onnx.convert.from_function + save",
            f"{ratio:.2f}x the time", "<= 1.2x (convert_resnet50.py)", yes(ratio <= 1.2),
            f"{float(ours[2]):.0f} vs {float(base[2]):.0f} MB",
            spread="medians from convert_resnet50.py", load=f"{os.getloadavg()[0]:.2f}",
        )  # fmt: skip


COLD_BASELINES = {
    "numpy": [PY, "-c", "import numpy"],
    "onnx": [PY, "-c", "import onnx, h5py"],
    "h5py": [PY, "-c", "import h5py"],
    "imports": [PY, "-P", "-c", "import exporter.cli.app"],  # -P: sys.path as the script has
}
COLD_NAMES = {key: f'python -c "{command[-1]}"' for key, command in COLD_BASELINES.items()}


def interleaved(commands: dict[str, tuple[list, dict | None]], runs: int) -> dict[str, dict]:
    """medians() of several (command, env) pairs, their runs interleaved round-robin so a change
    of load on a shared machine hits every command alike; one uncounted warm-up round first."""
    rounds = [{key: measure(c, env) for key, (c, env) in commands.items()} for _ in range(runs + 1)]
    return {key: summarize([r[key] for r in rounds[1:]]) for key in commands}


def wall_cpu(result: dict) -> str:
    """Wall and CPU seconds of a measurement."""
    return f"{result['time']:.2f} s (CPU {result['cpu']:.2f} s)"


def import_profile(command: list) -> tuple[set[str], str]:
    """(top-level packages command imports, its six slowest top-level imports in ms), from
    python -X importtime; command is a console script or [python, ...]."""
    args = command[1:] if command[0] == PY else command
    done = subprocess.run(
        [PY, "-X", "importtime", *map(str, args)], capture_output=True, text=True, env=ENV
    )
    loaded, top = set(), []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            loaded.add(name.strip().split(".")[0])
            if not name.startswith("  "):  # top-level package imports only
                top.append((int(parts[1]), name.strip()))
    top.sort(reverse=True)
    return loaded, ", ".join(f"{n} {us // 1000}" for us, n in top[:6])


def yes(ok: bool) -> str:
    return "yes" if ok else "no"


def has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------- report


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        ram = int(f.readline().split()[1]) / (1 << 20)
    free = shutil.disk_usage(tempfile.gettempdir()).free / (1 << 30)
    versions = []
    for package in ("numpy", "h5py", "onnx", "orjson", "safetensors", "pyarrow", "keras",
                    "tensorflow", "tensorflow-cpu", "tf2onnx", "exporter"):  # fmt: skip
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {ram:.1f} GiB; "
        f"disk free in {tempfile.gettempdir()}: {free:.0f} GiB",
        f"- Python {platform.python_version()} on {platform.platform()}",
        f"- {', '.join(versions)}",
        f"- load average at start: {load} (the machine may be shared; rerun for clean numbers)",
    ]


def report(bench: Bench, args, seconds: float) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"`bench/run.py {' '.join(sys.argv[1:])}` — {time.strftime('%Y-%m-%d %H:%M')}, "
        f"{bench.runs} runs per row (medians), {seconds / 60:.1f} min in all.",
        "",
        *machine(),
        "",
        "| benchmark | exporter | baseline | baseline is | ratio | target | met "
        "| wall s min/med/max (exporter vs baseline) | load 1m | peak RSS | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in bench.rows:
        lines.append(
            f"| {r['name']} | {r['ours']} | {r['base']} | {r['base_name']} | {r['ratio']} | "
            f"{r['target']} | {r['met']} | {r['spread']} | {r['load']} | {r['peak']} "
            f"| {r['note']} |"
        )
    if bench.notes:
        lines += ["", *[f"- {n}" for n in bench.notes]]
    return "\n".join(lines) + "\n"


def compile_bytecode() -> None:
    """Byte-compile the exporter package, as `pip install` of a wheel does. An editable checkout
    run under PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~20 modules (about 30 ms) again
    in every measured process, a cost no installed copy has."""
    import compileall

    import exporter

    compileall.compile_dir(Path(exporter.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per row (>= 3 for medians)")
    parser.add_argument("--quick", action="store_true", help="smaller models and arrays")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma list of {PARTS}")
    parser.add_argument("--results", default=str(HERE / "results.md"))
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    compile_bytecode()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="exporter-bench-") as folder:
        bench = Bench(Path(folder), max(args.runs, 1), args.quick, parts)
        for part in PARTS:
            if part in parts:
                print(f"== {part}", file=sys.stderr, flush=True)
                bench.text(part) if part in ("json", "csv") else getattr(bench, part)()
    text = report(bench, args, time.perf_counter() - start)
    print(text)
    Path(args.results).write_text(text)


if __name__ == "__main__":
    main()
