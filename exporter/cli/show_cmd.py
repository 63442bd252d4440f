"""exporter show SOURCE NAME [--format text|json|csv] [--precision N]"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import Config, CustomObjects, Trust, Via


def show(
    source: Annotated[str, typer.Argument(help="Model file, export or folder.")],
    name: Annotated[str, typer.Argument(help="The tensor's canonical name (see inspect).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help="text (nested brackets), json, or csv (rows).")
    ] = "text",
    precision: Annotated[
        int | None,
        typer.Option(
            "--precision", help="Significant digits (default: exact, reads back bit for bit)."
        ),
    ] = None,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    via: Via = "auto",
    config: Config = None,
) -> None:
    """Print one tensor's values on stdout, exactly unless --precision is given."""
    text = exporter.show(
        source, name, format=format, precision=precision, trust=trust, via=via, config=config
    )
    typer.echo(text, nl=False)
