"""exporter diff A B [--atol] [--rtol] [--json]"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import (
    Config,
    CustomObjects,
    Exclude,
    Json,
    Only,
    Trust,
    Via,
    emit_json,
    err,
)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def diff(
    a: Annotated[str, typer.Argument(help="First source (model file or export).")],
    b: Annotated[str, typer.Argument(help="Second source.")],
    atol: Annotated[
        float, typer.Option("--atol", help="Absolute tolerance (default 0: bit for bit).")
    ] = 0.0,
    rtol: Annotated[
        float, typer.Option("--rtol", help="Relative tolerance (default 0: bit for bit).")
    ] = 0.0,
    json_out: Json = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    only: Only = None,
    exclude: Exclude = None,
    via: Via = "auto",
    config: Config = None,
) -> None:
    """Compare two sources tensor by tensor, by canonical name (exit 0 equal, 1 different).

    Reports tensors only in A or B, shape/dtype changes, and per tensor the max abs/rel
    difference. Default: equal means bit for bit; with --atol/--rtol it means
    |a-b| <= atol + rtol*|b| everywhere (NaN equals NaN).
    """
    from exporter.diff import diff as diff_weights

    def load(source: str):
        return exporter.load(
            source, trust=trust, via=via, config=config, only=only or (), exclude=exclude or ()
        )

    report = diff_weights(load(a), load(b), atol=atol, rtol=rtol, a_label=a, b_label=b)
    if json_out:
        emit_json(report.to_json())
    if report.paired is not None:
        _print_by_values(report, a, b)
        return
    for name in report.only_a:
        err(f"- {name}: only in {a}")
    for name in report.only_b:
        err(f"+ {name}: only in {b}")
    for t in report.changed:
        if t.shape_a != t.shape_b:
            err(f"✗ {t.name}: shape {t.shape_a} -> {t.shape_b}")
        else:
            dtype = f", dtype {t.dtype_a} -> {t.dtype_b}" if t.dtype_a != t.dtype_b else ""
            err(
                f"✗ {t.name}: {t.differing} of {t.size} values differ, max abs {_num(t.max_abs)}, max rel {_num(t.max_rel)}{dtype}"
            )
    if report.ok:
        worst = max((t.max_abs or 0.0 for t in report.tensors), default=0.0)
        err(f"✓ equal: {len(report.tensors)} tensors (max abs difference {_num(worst)})")
        return
    err(f"✗ differ: {len(report.only_a)} only in A, {len(report.only_b)} only in B, "
        f"{len(report.changed)} of {len(report.tensors)} common tensors changed")  # fmt: skip
    raise typer.Exit(1)


def _print_by_values(report, a: str, b: str) -> None:
    """Across a conversion: which source tensor each ONNX parameter holds, and what is missing."""
    from collections import Counter

    for pair in report.paired:
        err(f"= {pair['a']} ↔ {pair['b']} ({pair['how']})")
    for name in report.only_a:
        err(f"- {name}: no parameter of {b} holds its values (folded or rewritten?)")
    for name in report.only_b:
        err(f"+ {name}: no parameter of {a} holds its values (folded or rewritten?)")
    hows = ", ".join(f"{n} {how}" for how, n in Counter(p["how"] for p in report.paired).items())
    total = len(report.paired) + len(report.only_a) + len(report.only_b)
    extra = (
        f"; {len(report.extra)} ONNX parameters hold nothing of the source" if report.extra else ""
    )
    if report.ok:
        err(f"✓ equal by values: all {total} source tensors found ({hows}){extra}")
        return
    err(f"✗ differ by values: {total - len(report.paired)} of {total} source tensors not found"
        f" ({hows or 'none paired'}){extra}")  # fmt: skip
    raise typer.Exit(1)
