"""exporter export SOURCE... -o OUT [--format npz|json|csv|safetensors] [--store DIR] [--jobs N]"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from exporter.cli.common import (
    INTERNAL_ERROR,
    Config,
    Force,
    IncludeOptimizer,
    ProgressBar,
    Trust,
    Via,
    api,
    err,
    handle_errors,
    info,
    writers_module,
)
from exporter.core.errors import ExporterError, UsageError

EXTENSIONS = {"npz": ".npz", "json": ".json", "csv": ".csv", "safetensors": ".safetensors"}


def stem(source: str) -> str:
    """A model's short name from its file: 'models/resnet.weights.h5' -> 'resnet'."""
    name = Path(source.rstrip("/")).name
    for suffix in (".weights.h5", ".keras", ".h5", ".skops", ".joblib", ".pkl", ".onnx", ".npz",
                   ".json", ".safetensors", ".csv"):  # fmt: skip
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def export_one(
    source: str, out: str | None, fmt: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """Export one source (to a file, or into a store); returns what happened. Runs in workers too."""
    store, name = options.pop("store", None), options.pop("name", None)
    write_opts = {k: options.pop(k) for k in ("force", "created_at", "csv_layout")}
    ws = api.load(source, **options)
    bar = ProgressBar(len(ws), f"exporting {Path(source).name}")
    if store:
        from exporter.store import store_export

        fmt = fmt or "npz"
        file_name = "weights" + EXTENSIONS[writers_module.format_for("", fmt).format]

        def write(path: Path) -> dict[str, Any]:
            return api.export(ws, path, format=fmt, progress=bar, **{**write_opts, "force": False})

        entry = store_export(ws, store, name or stem(source), file_name, write)
        return {**entry, "index_source": entry["source"], "source": source, "store": str(store)}
    manifest = api.export(ws, out, format=fmt, progress=bar, **write_opts)
    return {"source": source, "out": str(out), "tensors": manifest["totals"]["tensors"],
            "parameters": manifest["totals"]["parameters"], "warnings": manifest.get("warnings", []),
            "folder": writers_module.format_for(out, fmt).is_dir}  # fmt: skip


_busy = False  # in a --jobs worker: an export is running (Ctrl-C must clean up, not just exit)
_cancelled = False  # in a --jobs worker: Ctrl-C came; every later item is skipped


def _quiet_interrupts() -> None:
    """--jobs worker start-up: the first Ctrl-C stops the export being written (it removes its
    temporary file) and makes the worker skip every later item. A worker never exits on its own:
    the pool would count it as crashed and kill the others in the middle of their clean-up."""
    import signal

    def interrupted(_signum: int, _frame: Any) -> None:
        global _cancelled
        if _cancelled:  # a second Ctrl-C (terminal and parent both send one) must not
            return  # interrupt the clean-up of the first
        _cancelled = True
        if _busy:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)


def _worker(
    source: str, out: str | None, fmt: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """One export of a batch: its result, or its error (a bug included), never an exception."""
    try:
        return {"ok": True, **export_one(source, out, fmt, options)}
    except ExporterError as exc:
        return {"ok": False, "source": source, "error": str(exc), "exit_code": exc.exit_code}
    except Exception as exc:  # one source's bug must not hide the others' results
        error = f"internal error: {type(exc).__name__}: {exc} (run it alone with --debug)"
        return {"ok": False, "source": source, "error": error, "exit_code": INTERNAL_ERROR}


def _pool_worker(
    source: str, out: str | None, fmt: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """_worker in a --jobs process: after Ctrl-C it reports "interrupted" instead of raising."""
    global _busy
    interrupted = {"ok": False, "source": source, "error": "interrupted", "exit_code": 130}
    _busy = True  # before the check: a Ctrl-C in between raises, it is not missed
    try:
        if _cancelled:
            return interrupted
        return _worker(source, out, fmt, options)
    except KeyboardInterrupt:
        return interrupted
    finally:
        _busy = False


def _plan(
    sources: list[str], out: str | None, fmt: str | None, store: str | None
) -> list[tuple[str, str | None]]:
    if store:
        if out:
            raise UsageError("give -o/--out or --store, not both")
        return [(s, None) for s in sources]
    if not out:
        raise UsageError("missing -o/--out (or --store DIR)")
    if len(sources) == 1:
        return [(sources[0], out)]
    if not fmt:
        raise UsageError("with several sources, give --format (npz, json, csv or safetensors)")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"with several sources, -o names a folder; {out} is a file")
    ext = EXTENSIONS[writers_module.format_for("", fmt).format]
    targets = [(s, str(folder / f"{stem(s)}{ext}")) for s in sources]
    by_target: dict[str, list[str]] = {}
    for source, target in targets:
        by_target.setdefault(target, []).append(source)
    clashes = [f"{' and '.join(s)} -> {t}" for t, s in by_target.items() if len(s) > 1]
    if clashes:
        raise UsageError(f"sources would write the same output: {'; '.join(clashes)}")
    try:
        folder.mkdir(parents=True, exist_ok=True)  # as a single export creates its folders
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"cannot create output folder {folder}: a file is in the way; choose another -o"
        ) from None
    return targets


def _check_csv_layout(layout: str, out: str | None, fmt: str | None, store: str | None) -> None:
    """--csv-layout long with an output that is not CSV is a contradiction: refuse it (exit 2)."""
    if layout not in ("wide", "long"):
        raise UsageError(f"unknown --csv-layout {layout!r}; use wide or long")
    if layout == "wide":
        return
    chosen = fmt or ("npz" if store or not out else None)
    with contextlib.suppress(UsageError):  # no format yet: _plan says what to give
        chosen = chosen or writers_module.format_for(out or "", None).format
    if chosen and chosen.lower() != "csv":
        raise UsageError(f"--csv-layout long applies to CSV exports; this export is {chosen}")


def _report(result: dict[str, Any]) -> None:
    if not result["ok"]:
        err(f"exporter: error: {result['error']}")
        return
    for warning in result.get("warnings", []):
        info(f"warning: {warning}")
    if "store" in result:
        state = "new version" if result["created"] else "unchanged, latest is"
        info(
            f"{result['source']}: {state} v{result['version']} ({result['path']} in {result['store']})"
        )
    else:
        folder = " (a folder: CSV + manifest.json)" if result.get("folder") else ""
        info(
            f"wrote {result['out']}{folder}: {result['tensors']} tensors, "
            f"{result['parameters']:,} parameters"
        )


@handle_errors
def export(
    sources: Annotated[
        list[str], typer.Argument(help="Model files or exports to read (one or more).")
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file; a name ending in / or a CSV export: a folder (missing folders "
            "are created); with several sources a folder.",
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="npz, json, csv or safetensors (default: from OUT's extension)."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Write DIR/<model>/v<N>/ and an index; a new version only when the weights changed.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name in the store (default: the file name).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Processes for several sources.")] = 1,
    csv_layout: Annotated[
        str,
        typer.Option(
            "--csv-layout", help="wide: one CSV per tensor; long: one tensor,index,value table."
        ),
    ] = "wide",
    created_at: Annotated[
        str | None,
        typer.Option(
            "--created-at",
            help="Record this ISO 8601 time (default: SOURCE_DATE_EPOCH, else none).",
        ),
    ] = None,
    force: Force = False,
    trust: Trust = False,
    via: Via = "auto",
    config: Config = None,
    include_optimizer: IncludeOptimizer = False,
) -> None:
    """Export the weights of SOURCE to OUT with a manifest (format from --format or the extension).

    Several sources: -o is a folder and each becomes <folder>/<name>.<ext>; --jobs N runs N processes.
    --store DIR keeps versions: DIR/<model>/v1, v2, ... and DIR/<model>/index.json.
    """
    if format and format.lower() not in writers_module.writers():
        raise UsageError(
            f"unknown format {format!r}; registered: {', '.join(writers_module.writers().names())}"
        )
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if name and len(sources) > 1:
        raise UsageError("--name applies to one source at a time")
    _check_csv_layout(csv_layout, out, format, store)
    plan = _plan(sources, out, format, store)
    options = {"trust": trust, "via": via, "config": config, "include_optimizer": include_optimizer,
               "force": force, "created_at": created_at, "csv_layout": csv_layout, "store": store,
               "name": name}  # fmt: skip
    if len(plan) == 1:
        result = {"ok": True, **export_one(plan[0][0], plan[0][1], format, dict(options))}
        _report(result)
        return
    results = _run_all(plan, format, options, jobs)
    failed = [r for r in results if not r["ok"]]
    if failed:
        err(f"{len(failed)} of {len(results)} exports failed")
        raise typer.Exit(max(r["exit_code"] for r in failed))


def _run_all(plan, fmt, options, jobs: int) -> list[dict[str, Any]]:
    """Every export of a batch, each reported as it finishes; on Ctrl-C the finished ones are
    kept, the ones being written are abandoned (each removes its temporary file), exit 130."""
    results: list[dict[str, Any]] = []

    def done(result: dict[str, Any]) -> None:
        results.append(result)
        _report(result)

    try:
        if jobs == 1:
            for source, out in plan:
                done(_worker(source, out, fmt, dict(options)))
        else:
            _run_parallel(plan, fmt, options, jobs, done)
    except KeyboardInterrupt:
        kept = sum(r["ok"] for r in results)
        err(f"exporter: interrupted; {kept} finished output(s) kept, the rest were not written")
        raise typer.Exit(130) from None
    return results


def _run_parallel(plan, fmt, options, jobs: int, done) -> None:
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(plan)), mp_context=context, initializer=_quiet_interrupts
    )
    futures = [pool.submit(_pool_worker, s, o, fmt, dict(options)) for s, o in plan]
    try:
        for future in as_completed(futures):
            done(future.result())
        pool.shutdown()
    except KeyboardInterrupt:
        for child in multiprocessing.active_children():  # each cleans up its temporary file
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGINT)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
