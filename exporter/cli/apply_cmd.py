"""exporter apply WEIGHTS MODEL -o NEW"""

from __future__ import annotations

from typing import Annotated

import typer

import exporter
from exporter.cli.common import CustomObjects, Force, Trust, info


def apply(
    weights: Annotated[
        str, typer.Argument(help="An export (NPZ, JSON, CSV folder, safetensors) or model.")
    ],
    model: Annotated[
        str, typer.Argument(help="The Keras model file (.keras or .h5) to load them into.")
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="New model file (.keras or .h5).")],
    force: Force = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
) -> None:
    """Load WEIGHTS into the Keras MODEL by canonical name and save it as OUT.

    Every variable must get a weight of the same shape and dtype, and every weight a variable.
    """
    from exporter.apply import apply_weights

    result = apply_weights(
        exporter.load(weights, trust=trust), model, out, force=force, trust=trust
    )
    info(f"wrote {out}: {result['assigned']} variables assigned from {weights}")
