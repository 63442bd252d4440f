"""exporter versions DIR/<model> [--json]"""

from __future__ import annotations

from typing import Annotated

import typer

from exporter.cli.common import Json, emit_json


def versions(
    folder: Annotated[str, typer.Argument(help="A model's folder in a store: DIR/<model>.")],
    json_out: Json = False,
) -> None:
    """List the versions of a model in a store (see `exporter export --store`)."""
    from exporter.store import versions as read_versions

    index = read_versions(folder)
    if json_out:
        emit_json(index)
        return
    print(f"{'version':<8} {'digest':<14} {'tensors':>8} {'parameters':>12}  source")
    for v in index["versions"]:
        source = v["source"].get("file") or v["source"].get("kind", "")
        print(
            f"v{v['version']:<7} {v['digest'][:12]:<14} {v['tensors']:>8} {v['parameters']:>12,}  {source}"
        )
