"""Batch export: several sources into a folder (or a store), in this process or in N processes.

    import exporter
    results = exporter.export_many(["a.keras", "b.skops"], "weights", format="npz", jobs=2)
    failed = [r for r in results if not r.ok]      # each with .error and .exit_code

Every output is planned before anything is written (`folder/<model name>.<ext>`): two sources
that would write the same output, or a missing output, are refused at once (UsageError). Then
each source is exported; one source's failure (a bug included) is its result and never hides
the others'. Ctrl-C (KeyboardInterrupt) keeps the exports that finished, abandons the ones being
written (each removes its temporary output) and raises BatchInterrupted with the finished
results. This module imports nothing heavy until it runs: the command line imports it at start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.core.errors import ExporterError, UsageError

INTERNAL_ERROR = 4  # the exit code of a bug (README, "Exit codes")
INTERRUPTED = 130  # the exit code of Ctrl-C, as a shell reports it
# Model-file endings dropped from a source's name to name its output (exports' own endings,
# `.npz` ..., come from the writer registry).
MODEL_SUFFIXES = (".weights.h5", ".keras", ".h5", ".skops", ".joblib", ".pkl", ".onnx")

Progress = Callable[[str, int], Callable[..., None] | None]


@dataclass
class ExportResult:
    """What happened to one source of a batch. A failure has ok False, its one-line error and
    the exit code the command line uses for it; exception is the error itself when the export
    ran in this process (None from a worker process)."""

    source: str
    ok: bool = True
    out: str | None = None  # the file or folder written (in a store: the version's file)
    folder: bool = False  # out is a folder (a CSV export)
    tensors: int = 0
    parameters: int = 0
    warnings: list[str] = field(default_factory=list)
    store: str | None = None  # the store written into (export_many(..., store=DIR))
    version: int | None = None  # store: the version that holds these weights
    created: bool = False  # store: that version is new (False: the latest already held them)
    path: str | None = None  # store: the version's file inside the model folder (v2/weights.npz)
    error: str | None = None
    exit_code: int = 0
    exception: BaseException | None = field(default=None, repr=False, compare=False)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during export_many: results holds the exports that finished (each output is
    complete); the others were not written."""

    def __init__(self, results: list[ExportResult]):
        super().__init__(f"interrupted; {sum(r.ok for r in results)} finished output(s) kept")
        self.results = results


def export_many(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    *,
    format: str | None = None,
    store: str | os.PathLike | None = None,
    name: str | None = None,
    jobs: int = 1,
    force: bool = False,
    created_at: str | None = None,
    csv_layout: str = "wide",
    trust: bool = False,
    via: str = "auto",
    config: str | None = None,
    include_optimizer: bool = False,
    only: Sequence[str] = (),
    exclude: Sequence[str] = (),
    name_template: str | None = None,
    json_int_as_string: bool = False,
    progress: Progress | None = None,
    on_result: Callable[[ExportResult], None] | None = None,
    **c_options: Any,
) -> list[ExportResult]:
    """Export every source (a list, or one path); one ExportResult per source, in that order.

    One source goes to out (a file, or a CSV folder), as export does. Several sources go into
    the folder out (created if missing), each as <out>/<model name>.<ext>: format is then
    required. store=DIR writes DIR/<name>/v<N>/ instead (see exporter.store), with name for
    one source. jobs > 1 runs that many worker processes. on_result(result) is called here as
    each export ends; progress(source, tensors) may return a per-tensor callback (with jobs > 1
    it runs in the workers, so it must be a module-level function). c_options are the C
    export's (c_prefix, c_align, c_section, c_progmem, c_split, test_vectors: see
    api.export). Usage
    errors raise UsageError before anything is written.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [os.fspath(s) for s in sources]
    out = os.fspath(out) if out is not None else None
    store = os.fspath(store) if store is not None else None
    if out == "-":  # standard output: one source, JSON (default) or the long CSV table
        if len(sources) != 1 or store:
            raise UsageError("-o - (standard output) takes one source and no --store")
        format = format or "json"
    _check_options(sources, out, format, store, name, jobs, csv_layout)
    plan = _plan(sources, out, format, store, name_template)
    options = {"trust": trust, "via": via, "config": config, "include_optimizer": include_optimizer,
               "only": tuple(only), "exclude": tuple(exclude),
               "json_int_as_string": json_int_as_string,
               "force": force, "created_at": created_at, "csv_layout": csv_layout, "store": store,
               "name": name, "progress": progress,
               **_c_options(c_options, out, format, store)}  # fmt: skip
    return _run(plan, format, options, jobs, on_result)


C_OPTIONS = ("c_prefix", "c_align", "c_section", "c_progmem", "c_split", "test_vectors")


def _c_options(given: dict[str, Any], out: str | None, fmt: str | None, store) -> dict[str, Any]:
    """The C export's options, refused (UsageError) for an export that is not C."""
    from exporter.writers import format_for

    unknown = set(given) - set(C_OPTIONS)
    if unknown:
        raise TypeError(f"export_many() got unexpected keyword(s) {', '.join(sorted(unknown))}")
    if any(v for k, v in given.items() if k != "c_align") or given.get("c_align", 16) != 16:
        chosen = fmt or ("npz" if store or not out else format_for(out, None).format)
        if chosen.lower() != "c":
            raise UsageError("the --c-* options and --test-vectors apply to C exports (--format c)")
    return given


TEMPLATE_FIELDS = ("stem", "parent", "name", "index")


def output_name(source: str, index: int, template: str | None) -> str:
    """A batch output's name (without extension): the source's stem, or the template filled
    with {stem} (resnet for runs/a/resnet.keras), {parent} (a), {name} (resnet.keras) and
    {index} (1, 2, ... in the order given). The result must be one plain file name."""
    if not template:
        return stem(source)
    fields = {"stem": stem(source), "parent": Path(os.path.abspath(source)).parent.name,
              "name": Path(source).name, "index": index}  # fmt: skip
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UsageError(
            f"--name-template {template!r}: {exc}; use the fields {{{'}, {'.join(TEMPLATE_FIELDS)}}}"
        ) from None
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise UsageError(
            f"--name-template {template!r} gives {name!r} for {source}: not a file name"
        )
    return name


def stem(source: str) -> str:
    """A model's short name from its file: 'models/resnet.weights.h5' -> 'resnet'."""
    from exporter.writers import known_suffixes

    name = Path(source.rstrip("/")).name
    for suffix in (*MODEL_SUFFIXES, *known_suffixes()):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _run(plan, fmt, options, jobs: int, on_result) -> list[ExportResult]:
    """Every export of the plan, here or in worker processes, in the plan's order; on Ctrl-C,
    BatchInterrupted with the ones that finished."""
    results: dict[int, ExportResult] = {}

    def done(index: int, result: ExportResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    try:
        if jobs == 1 or len(plan) == 1:
            for index, (source, target) in enumerate(plan):
                done(index, _worker(source, target, fmt, dict(options)))
        else:
            _run_parallel(plan, fmt, options, jobs, done)
    except KeyboardInterrupt:
        raise BatchInterrupted([results[i] for i in sorted(results)]) from None
    return [results[i] for i in range(len(plan))]


def _check_options(sources, out, fmt, store, name, jobs: int, csv_layout: str) -> None:
    from exporter.api import formats

    if fmt and fmt.lower() not in formats():
        raise UsageError(f"unknown format {fmt!r}; registered: {', '.join(formats())}")
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if name and len(sources) > 1:
        raise UsageError("--name applies to one source at a time")
    _check_csv_layout(csv_layout, out, fmt, store)


def _check_csv_layout(layout: str, out: str | None, fmt: str | None, store: str | None) -> None:
    """--csv-layout long with an output that is not CSV is a contradiction: refuse it (exit 2)."""
    from exporter.writers import format_for

    if layout not in ("wide", "long"):
        raise UsageError(f"unknown --csv-layout {layout!r}; use wide or long")
    if layout == "wide":
        return
    chosen = fmt or ("npz" if store or not out else None)
    with contextlib.suppress(UsageError):  # no format yet: _plan says what to give
        chosen = chosen or format_for(out or "", None).format
    if chosen and chosen.lower() != "csv":
        raise UsageError(f"--csv-layout long applies to CSV exports; this export is {chosen}")


def _plan(
    sources: list[str],
    out: str | None,
    fmt: str | None,
    store: str | None,
    template: str | None = None,
) -> list[tuple[str, str | None]]:
    """(source, output) of every export; None as the output: into the store."""
    from exporter.files.publish import make_parents
    from exporter.writers import extension_of

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
    targets = [
        (s, str(folder / f"{output_name(s, i, template)}{extension_of(fmt)}"))
        for i, s in enumerate(sources, 1)
    ]
    by_target: dict[str, list[str]] = {}
    for source, target in targets:
        by_target.setdefault(target, []).append(source)
    clashes = [f"{' and '.join(s)} -> {t}" for t, s in by_target.items() if len(s) > 1]
    if clashes:
        raise UsageError(
            f"sources would write the same output: {'; '.join(clashes)}; "
            "name them with --name-template, e.g. '{parent}_{stem}'"
        )
    make_parents(folder)  # as a single export creates its folders
    return targets


def _export_one(
    source: str, out: str | None, fmt: str | None, options: dict[str, Any]
) -> ExportResult:
    """Export one source (to a file, or into a store); its errors are raised. Runs in workers too."""
    from exporter import api
    from exporter.writers import format_for

    store, name = options.pop("store", None), options.pop("name", None)
    progress = options.pop("progress", None)
    write_opts = {k: options.pop(k) for k in ("force", "created_at", "csv_layout")}
    write_opts["json_int_as_string"] = options.pop("json_int_as_string", False)
    write_opts.update({k: options.pop(k) for k in C_OPTIONS if k in options})
    vectors = write_opts.pop("test_vectors", 0)
    if vectors:  # the model runs on the source file, before its weights are read
        from exporter.c_vectors import test_vectors

        write_opts["c_extra"] = test_vectors(source, vectors, options.get("trust", False))
    ws = api.load(source, **options)
    bar = progress(source, len(ws)) if progress else None
    if store:
        return _export_to_store(ws, source, store, name, fmt or "npz", bar, write_opts)
    manifest = api.export(ws, out, format=fmt, progress=bar, **write_opts)
    folder = out != "-" and format_for(out, fmt).is_dir
    return ExportResult(source, out=str(out), folder=folder,
                        tensors=manifest["totals"]["tensors"],
                        parameters=manifest["totals"]["parameters"],
                        warnings=list(manifest.get("warnings", [])))  # fmt: skip


def _export_to_store(ws, source, store, name, fmt, bar, write_opts) -> ExportResult:
    from exporter import api
    from exporter.store import store_export
    from exporter.writers import extension_of

    def write(path: Path) -> dict[str, Any]:
        return api.export(ws, path, format=fmt, progress=bar, **{**write_opts, "force": False})

    model = name or stem(source)
    entry = store_export(ws, store, model, "weights" + extension_of(fmt), write)
    return ExportResult(source, out=str(Path(store, model, entry["path"])), tensors=entry["tensors"],
                        parameters=entry["parameters"], store=str(store), version=entry["version"],
                        created=entry["created"], path=entry["path"])  # fmt: skip


def _worker(source: str, out: str | None, fmt: str | None, options: dict[str, Any]) -> ExportResult:
    """One export of a batch: its result, or its error (a bug included), never an exception."""
    try:
        return _export_one(source, out, fmt, options)
    except ExporterError as exc:
        return ExportResult(source, ok=False, error=str(exc), exit_code=exc.exit_code,
                            exception=exc)  # fmt: skip
    except Exception as exc:  # one source's bug must not hide the others' results
        error = f"internal error: {type(exc).__name__}: {exc} (run it alone with --debug)"
        return ExportResult(source, ok=False, error=error, exit_code=INTERNAL_ERROR, exception=exc)


# ---------------------------------------------------------------- the worker processes

_busy = False  # in a worker: an export is running (Ctrl-C must clean up, not just exit)
_cancelled = False  # in a worker: Ctrl-C came; every later item is skipped


def _start_worker(custom: list[str]) -> None:
    """Worker start-up: interrupts as below; the parent's --custom-objects imported again."""
    from exporter.api import use_custom_objects

    _quiet_interrupts()
    use_custom_objects(custom)


def _quiet_interrupts() -> None:
    """The first Ctrl-C stops the export being written (removing its temporary file) and skips
    every later item. A worker never exits on its own: the pool would kill the others."""
    import signal

    def interrupted(_signum: int, _frame: Any) -> None:
        global _cancelled
        if _cancelled:  # a second Ctrl-C (terminal and parent both send one) must not
            return  # interrupt the clean-up of the first
        _cancelled = True
        if _busy:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)


def _pool_worker(
    source: str, out: str | None, fmt: str | None, options: dict[str, Any]
) -> ExportResult:
    """_worker in a worker process: after Ctrl-C it reports "interrupted" instead of raising.
    The exception stays here (it may not pickle): the error line says what it was."""
    global _busy
    interrupted = ExportResult(source, ok=False, error="interrupted", exit_code=INTERRUPTED)
    _busy = True  # before the check: a Ctrl-C in between raises, it is not missed
    try:
        if _cancelled:
            return interrupted
        return dataclasses.replace(_worker(source, out, fmt, options), exception=None)
    except KeyboardInterrupt:
        return interrupted
    finally:
        _busy = False


def _run_parallel(plan, fmt, options, jobs: int, done) -> None:
    """Run the plan in min(jobs, len(plan)) spawned processes, calling done(index, result) as each
    ends. Ctrl-C: every worker gets SIGINT (and removes its output), then KeyboardInterrupt."""
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from exporter.api import custom_imports

    context = multiprocessing.get_context("spawn")  # never fork a process that may hold TensorFlow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(plan)), mp_context=context, initializer=_start_worker,
        initargs=(custom_imports(),),
    )  # fmt: skip
    futures = {
        pool.submit(_pool_worker, source, out, fmt, dict(options)): index
        for index, (source, out) in enumerate(plan)
    }
    try:
        for future in as_completed(futures):
            done(futures[future], future.result())
        pool.shutdown()
    except KeyboardInterrupt:
        for child in _workers(pool):  # each cleans up its temporary file
            with contextlib.suppress(OSError):
                os.kill(child.pid, signal.SIGINT)
        pool.shutdown(wait=True, cancel_futures=True)
        raise


def _workers(pool) -> list:
    """The pool's own processes (not any other child of this process)."""
    return list((getattr(pool, "_processes", None) or {}).values())
