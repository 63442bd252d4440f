"""exporter check SOURCE --spec SPEC [--json] and exporter spec SOURCE -o SPEC.json"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import Config, CustomObjects, Force, Json, Trust, Via, emit_json, err, info


def check(
    source: Annotated[str, typer.Argument(help="Model file or export to check.")],
    spec: Annotated[str, typer.Option("--spec", help="Spec file, manifest.json, or an export.")],
    json_out: Json = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    via: Via = "auto",
    config: Config = None,
) -> None:
    """Check SOURCE against a contract (names, shapes, dtypes). Exit 1 listing every violation."""
    from exporter import spec as spec_mod

    wanted = spec_mod.load_spec(spec)
    report = spec_mod.check(
        exporter.load(source, trust=trust, via=via, config=config),
        wanted,
        source=source,
        spec_name=spec,
    )
    if json_out:
        emit_json(report.to_json())
    for violation in report.violations:
        err(f"✗ {violation['tensor']}: {violation['problem']}")
    if not report.ok:
        count = len(report.violations)
        err(f"✗ {source}: {count} violation{'s' if count != 1 else ''} of {spec}")
        raise typer.Exit(1)
    err(f"✓ {source} meets {spec} ({report.checked} tensors)")


def spec(
    source: Annotated[str, typer.Argument(help="Model file or export.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Spec file to write (JSON).")],
    force: Force = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    via: Via = "auto",
    config: Config = None,
) -> None:
    """Write the spec (names, shapes, dtypes) of SOURCE: the contract for `exporter check`."""
    from exporter import spec as spec_mod

    ws = exporter.load(source, trust=trust, via=via, config=config)
    for warning in ws.info.warnings:  # e.g. positional names: a contract nobody should sign
        info(f"warning: {warning}")
    written = spec_mod.write_spec(ws, out, force=force)
    info(f"wrote {out}: {len(written['tensors'])} tensors")
