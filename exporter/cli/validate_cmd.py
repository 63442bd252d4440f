"""exporter validate EXPORT [--json]"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import Json, emit_json, err


def validate(
    export: Annotated[
        str, typer.Argument(help="An export: .npz, .json, CSV folder, .safetensors.")
    ],
    json_out: Json = False,
) -> None:
    """Check an export against its manifest: schema, shapes, dtypes and every tensor's sha256.

    Exit 0 when all hold, 1 naming each tensor that does not.
    """
    report = exporter.validate(export)
    if json_out:
        emit_json(report.to_json())
    for problem in report.problems:
        err(f"✗ {problem['tensor']}: {problem['problem']}")
    if report.ok:
        err(f"✓ {export}: {report.tensors} tensors match the manifest")
    else:
        err(f"✗ {export}: {len(report.problems)} of {report.tensors} tensors do not match")
        raise typer.Exit(1)
