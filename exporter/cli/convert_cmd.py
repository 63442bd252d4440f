"""exporter convert SOURCE -o OUT.onnx  |  exporter verify SOURCE MODEL.onnx

TensorFlow, tf2onnx and skl2onnx are imported inside the commands, when they run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from exporter.cli.common import CustomObjects, Force, Json, Trust, emit_json, err, info, phase

Atol = Annotated[
    float | None,
    typer.Option(
        "--atol",
        min=0.0,
        help="Absolute tolerance (default 1e-4 for float32 models, 1e-9 for float64).",
    ),
]
Rtol = Annotated[
    float | None,
    typer.Option(
        "--rtol",
        min=0.0,
        help="Relative tolerance (default 1e-3 for float32 models, 1e-7 for float64).",
    ),
]
MaxLabelMismatch = Annotated[
    float,
    typer.Option(
        "--max-label-mismatch",
        min=0.0,
        max=1.0,
        help="Fraction of class labels allowed to differ (default 0: none). Float32 tree "
        "thresholds can flip a prediction that lies right at a split; the report counts them.",
    ),
]
Report = Annotated[
    str | None,
    typer.Option("--report", help="Write the check as JSON (conversion-report-1 schema)."),
]
Inputs = Annotated[
    str | None,
    typer.Option(
        "--inputs",
        help="An .npz of inputs to check with (keys = input names; X for a one-input model) "
        "instead of seeded random inputs.",
    ),
]
Samples = Annotated[
    int,
    typer.Option(
        "--samples",
        min=1,
        help="Rows of generated check inputs (scikit-learn models get at least 256 rows drawn "
        "from the model's own split thresholds, bin edges, quantiles and categories).",
    ),
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the random inputs.")]


def convert(
    source: Annotated[
        str,
        typer.Argument(help="Keras .keras/.h5/SavedModel folder, or scikit-learn .skops/pickle."),
    ],
    out: Annotated[str, typer.Option("--out", "-o", help="The ONNX file to write.")],
    opset: Annotated[
        int | None,
        typer.Option(
            "--opset",
            min=7,
            help="Highest ONNX opset to use. scikit-learn: the lowest opsets the model needs are "
            "chosen, up to this (default: skl2onnx's newest); Keras: the opset tf2onnx targets "
            "(default 17). The report lists the opsets used.",
        ),
    ] = None,
    atol: Atol = None,
    rtol: Rtol = None,
    max_label_mismatch: MaxLabelMismatch = 0.0,
    report: Report = None,
    inputs: Inputs = None,
    samples: Samples = 8,
    seed: Seed = 0,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip the onnxruntime check.")
    ] = False,
    zipmap: Annotated[
        bool,
        typer.Option(
            "--zipmap", help="scikit-learn classifiers: probabilities as a list of dicts (ZipMap)."
        ),
    ] = False,
    double: Annotated[
        bool,
        typer.Option("--double", help="scikit-learn: float64 inputs and computation."),
    ] = False,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Convert a Keras or scikit-learn model to ONNX and check it against the source model.

    The source model and onnxruntime run the same inputs; names, shapes and values of every
    output are compared (one ✓/✗ line each). Exit 1 when a check fails; the ONNX file is
    still written so it can be looked at.
    """
    from exporter.convert import ConvertOptions
    from exporter.convert import convert as run_convert

    options = ConvertOptions(
        opset=opset,
        atol=atol,
        rtol=rtol,
        max_label_mismatch=max_label_mismatch,
        validate=not no_validate,
        inputs=inputs,
        samples=samples,
        seed=seed,
        zipmap=zipmap,
        double=double,
        trust=trust,
    )
    _check_report_path(report, force)
    phase(f"converting {source} to ONNX and checking it with onnxruntime")
    result = run_convert(source, out, options, force=force)
    info(f"wrote {out}")
    _finish(result, report, force, json_out)


def verify(
    source: Annotated[
        str,
        typer.Argument(help="Keras .keras/.h5/SavedModel folder, or scikit-learn .skops/pickle."),
    ],
    model: Annotated[str, typer.Argument(help="The ONNX model to check against SOURCE.")],
    atol: Atol = None,
    rtol: Rtol = None,
    max_label_mismatch: MaxLabelMismatch = 0.0,
    report: Report = None,
    inputs: Inputs = None,
    samples: Samples = 8,
    seed: Seed = 0,
    trust: Trust = False,
    custom_objects: CustomObjects = None,  # imported by the option itself
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Check an ONNX model made elsewhere against its source model (as convert does).

    Exit 0 when every output matches, 1 naming those that do not.
    """
    from exporter.convert import ConvertOptions
    from exporter.convert import verify as run_verify

    options = ConvertOptions(
        atol=atol,
        rtol=rtol,
        max_label_mismatch=max_label_mismatch,
        inputs=inputs,
        samples=samples,
        seed=seed,
        trust=trust,
    )
    _check_report_path(report, force)
    phase(f"checking {model} against {source} with onnxruntime")
    _finish(run_verify(source, model, options), report, force, json_out)


def _check_report_path(report: str | None, force: bool) -> None:
    if report:
        from exporter.api import check_output

        check_output(report, force)


def _finish(result: Any, report: str | None, force: bool, json_out: bool) -> None:
    """Print the ✓/✗ lines and the weights summary; write/print the report; exit 1 on failure."""
    document = result.to_json()
    for line in result.lines():
        err(line)
    for note in document["notes"]:
        info(f"note: {note}")
    weights = document["weights"]
    info(
        f"weights: {weights['found']} of {weights['total']} source tensors appear unchanged in "
        "the ONNX graph (the rest are folded or rewritten; see the report)"
    )
    if report:
        result.write(report, force=force)
        info(f"wrote {report}")
    if json_out:
        emit_json(document)
    onnx_file = document["onnx"]["file"]
    if not document["validation"]["performed"]:
        info(f"{onnx_file}: not checked (--no-validate)")
    elif result.ok:
        err(f"✓ {onnx_file}: every output matches the source model")
    else:
        failed = [row["name"] for row in document["validation"]["outputs"] if not row["ok"]]
        err(
            f"✗ {onnx_file}: {len(failed)} output(s) differ from the source model: {', '.join(failed)}"
        )
        raise typer.Exit(1)
