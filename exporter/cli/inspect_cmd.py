"""exporter inspect SOURCE [--json]"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import (
    Config,
    CustomObjects,
    Exclude,
    IncludeOptimizer,
    Json,
    Only,
    Trust,
    Via,
    emit_json,
    err,
)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def print_table(summary: dict) -> None:
    """The human table: name, shape, dtype, parameters, trainable, min/max/mean/std, totals."""
    src = summary["source"]
    err(
        f"{src['file'] or src['model_name'] or 'model'}: {src['kind']}"
        + "".join(
            f", {v}" for v in (src["framework"], src["framework_version"]) if v and v != src["kind"]
        )
        + (f", {src['model_class']}" if src["model_class"] else "")
    )
    for warning in summary["warnings"]:
        err(f"warning: {warning}")
    header = ("name", "shape", "dtype", "params", "train", "min", "max", "mean", "std", "nan/inf")
    rows = [
        (
            r["name"],
            "x".join(map(str, r["shape"])) or "()",
            r["dtype"],
            str(r["parameters"]),
            {True: "yes", False: "no", None: "-"}[r["trainable"]],
            _fmt(r["min"]),
            _fmt(r["max"]),
            _fmt(r["mean"]),
            _fmt(r["std"]),
            str(r["nonfinite"]) if r["nonfinite"] else "-",
        )
        for r in summary["tensors"]
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    line = "  ".join(f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*header))
    for row in rows:
        print(line.format(*row))
    totals = summary["totals"]
    known = totals["parameters"] - totals["unknown_trainable_parameters"]
    trainable = f" ({totals['trainable_parameters']:,} trainable)" if known else ""
    print(
        f"total: {totals['tensors']} tensors, {totals['parameters']:,} parameters{trainable}, "
        f"{totals['bytes']:,} bytes"
    )


def inspect(
    source: Annotated[str, typer.Argument(help="Model file, export, or folder.")],
    json_out: Json = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    only: Only = None,
    exclude: Exclude = None,
    via: Via = "auto",
    config: Config = None,
    include_optimizer: IncludeOptimizer = False,
) -> None:
    """Show every tensor of a model or export: name, shape, dtype, parameters, statistics."""
    summary = exporter.inspect(
        source,
        trust=trust,
        via=via,
        config=config,
        include_optimizer=include_optimizer,
        only=only or (),
        exclude=exclude or (),
    )
    if json_out:
        emit_json(summary)
    else:
        print_table(summary)
