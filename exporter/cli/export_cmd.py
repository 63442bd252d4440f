"""exporter export SOURCE... -o OUT [--format npz|json|csv|safetensors|c] [--store DIR] [--jobs N]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import exporter
from exporter.batch import INTERRUPTED, BatchInterrupted, ExportResult
from exporter.cli.common import (
    Config,
    CustomObjects,
    Exclude,
    Force,
    IncludeOptimizer,
    Only,
    ProgressBar,
    Trust,
    Via,
    err,
    info,
)

EPILOG = (
    "Environment: EXPORTER_NO_KERNEL_COPY=1 writes every byte with write() instead of copying "
    "memory-mapped tensors from the source file inside the kernel (copy_file_range); the output "
    "is the same."
)


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
            "--format",
            help="npz, json, csv, safetensors or c (default: from OUT's extension).",
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
    c_prefix: Annotated[
        str | None,
        typer.Option("--c-prefix", help="C export: identifier prefix (default: OUT's stem)."),
    ] = None,
    c_align: Annotated[
        int, typer.Option("--c-align", help="C export: alignment of every array, in bytes.")
    ] = 16,
    c_section: Annotated[
        str | None,
        typer.Option("--c-section", help="C export: put the arrays in this linker section."),
    ] = None,
    c_const_progmem: Annotated[
        bool, typer.Option("--c-const-progmem", help="C export: AVR PROGMEM arrays (flash).")
    ] = False,
    c_split: Annotated[
        bool,
        typer.Option(
            "--c-split",
            help="C export: the .h declares the arrays extern and a .c beside it defines them.",
        ),
    ] = False,
    test_vectors: Annotated[
        int,
        typer.Option(
            "--test-vectors",
            help="C export: also write N seeded inputs and the model's outputs (runs the model).",
        ),
    ] = 0,
    force: Force = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    name_template: Annotated[
        str | None,
        typer.Option(
            "--name-template",
            help="Batch output names from {stem} {parent} {name} {index}, e.g. '{parent}_{stem}'.",
        ),
    ] = None,
    json_int_as_string: Annotated[
        bool,
        typer.Option(
            "--json-int-as-string",
            help="JSON: write int64/uint64 values as strings (JavaScript numbers hold 53 bits).",
        ),
    ] = False,
    only: Only = None,
    exclude: Exclude = None,
    via: Via = "auto",
    config: Config = None,
    include_optimizer: IncludeOptimizer = False,
) -> None:
    """Export the weights of SOURCE to OUT with a manifest (format from --format or the extension).

    Several sources: -o is a folder and each becomes <folder>/<name>.<ext>; --jobs N runs N processes.
    --store DIR keeps versions: DIR/<model>/v1, v2, ... and DIR/<model>/index.json.
    """
    several = len(sources) > 1
    try:
        results = exporter.export_many(
            sources, out, format=format, store=store, name=name, jobs=jobs, force=force,
            created_at=created_at, csv_layout=csv_layout, trust=trust, via=via, config=config,
            include_optimizer=include_optimizer, only=only or (), exclude=exclude or (),
            name_template=name_template,
            json_int_as_string=json_int_as_string,
            progress=progress_bar,
            on_result=report if several else None, c_prefix=c_prefix, c_align=c_align,
            c_section=c_section, c_progmem=c_const_progmem, c_split=c_split,
            test_vectors=test_vectors,
        )  # fmt: skip
    except BatchInterrupted as exc:
        if not several:
            raise  # the error boundary says it: the output is complete or unchanged
        kept = sum(result.ok for result in exc.results)
        err(f"exporter: interrupted; {kept} finished output(s) kept, the rest were not written")
        raise typer.Exit(INTERRUPTED) from None
    if not several:
        if not results[0].ok:
            raise results[0].exception  # one export: its error, as `export` raises it
        report(results[0])
        return
    failed = [result for result in results if not result.ok]
    if failed:
        err(f"{len(failed)} of {len(results)} exports failed")
        raise typer.Exit(max(result.exit_code for result in failed))


def progress_bar(source: str, tensors: int) -> ProgressBar:
    """One export's progress over its tensors (stderr, terminals only). Module-level: with
    --jobs it is sent to the worker processes."""
    return ProgressBar(tensors, f"exporting {Path(source).name}")


def report(result: ExportResult) -> None:
    """The lines of one finished export: its error, or its warnings and what was written."""
    if not result.ok:
        err(f"exporter: error: {result.error}")
        return
    for warning in result.warnings:
        info(f"warning: {warning}")
    if result.store is not None:
        state = "new version" if result.created else "unchanged, latest is"
        info(f"{result.source}: {state} v{result.version} ({result.path} in {result.store})")
    else:
        folder = " (a folder: CSV + manifest.json)" if result.folder else ""
        where = "standard output" if result.out == "-" else result.out
        info(f"wrote {where}{folder}: {result.tensors} tensors, {result.parameters:,} parameters")
