"""exporter export SOURCE -o OUT [--format npz|json|csv|safetensors]"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import api
from .common import Config, Force, IncludeOptimizer, Trust, Via, handle_errors, info


@handle_errors
def export(
    source: Annotated[str, typer.Argument(help="Model file or export to read.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output file (CSV: a folder).")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="npz, json, csv or safetensors (default: from OUT's extension)."
        ),
    ] = None,
    csv_layout: Annotated[
        str,
        typer.Option(
            "--csv-layout", help="wide: one CSV per tensor; long: one tensor,index,value table."
        ),
    ] = "wide",
    created_at: Annotated[
        str | None,
        typer.Option(
            "--created-at", help="Record this ISO 8601 time (default: SOURCE_DATE_EPOCH or none)."
        ),
    ] = None,
    force: Force = False,
    trust: Trust = False,
    via: Via = "auto",
    config: Config = None,
    include_optimizer: IncludeOptimizer = False,
) -> None:
    """Export the weights of SOURCE to OUT, with a manifest (format from --format or extension)."""
    manifest = api.export(
        source,
        out,
        format=format,
        force=force,
        created_at=created_at,
        csv_layout=csv_layout,
        trust=trust,
        via=via,
        config=config,
        include_optimizer=include_optimizer,
    )
    totals = manifest["totals"]
    for warning in manifest.get("warnings", []):
        info(f"warning: {warning}")
    info(f"wrote {out}: {totals['tensors']} tensors, {totals['parameters']:,} parameters")
