"""convert and verify: load the source model, convert it (or read an ONNX made elsewhere), check
it against onnxruntime and say which source weights the ONNX graph holds unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.convert.base import ConvertOptions, SourceModel, converter
from exporter.convert.check import OnnxRunner, OutputCheck, compare, user_inputs
from exporter.convert.report import ConversionReport, array_json, finite, onnx_json, report_document
from exporter.convert.source import load_source
from exporter.convert.weights import match_weights
from exporter.core.errors import ExporterError, InputError, UnsupportedError, UsageError, require
from exporter.files.inputs import InputFile
from exporter.files.publish import atomic_file, check_destination
from exporter.readers import check_input_path

__all__ = ["ConversionReport", "ConvertOptions", "convert", "verify"]


ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")
ERROR_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception)\b[^:]*:")


def error_cause(exc: BaseException, limit: int = 400) -> str:
    """A library's exception as one line with its real cause: TensorFlow's "in user code:"
    listing of the traced code gives way to the error it wraps, and Keras's "Exception
    encountered when calling LAYER.call()" to the message inside it (without its argument
    list). Terminal colour codes go; the rest is joined onto one line, cut at limit."""
    lines = [ANSI_CODES.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(exc).__name__
    if lines[0].endswith("in user code:"):
        start = next((i for i, line in enumerate(lines) if ERROR_LINE.match(line)), -1)
        lines = lines[start:]
    if "Exception encountered when calling" in lines[0] and len(lines) > 1:
        end = next((i for i, x in enumerate(lines) if x.startswith("Arguments received")), None)
        lines = lines[1:end] or lines
    text = " ".join(lines)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def converting(model: SourceModel):
    """A converter library's failure on this model (tf2onnx, skl2onnx, TensorFlow tracing it)
    is input it cannot convert: UnsupportedError (exit 3) with the cause in one line."""
    try:
        yield
    except (ExporterError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        what = model.file or getattr(model.model, "name", None) or "the model"
        raise UnsupportedError(
            f"{what}: cannot convert it to ONNX: {type(exc).__name__}: {error_cause(exc)}"
        ) from exc


def convert(
    source: Any,
    out: str | os.PathLike,
    options: ConvertOptions | None = None,
    *,
    force: bool = False,
) -> ConversionReport:
    """Convert source to ONNX at out (written even when the check fails) and check it."""
    options = options or ConvertOptions()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"{out}: the output of convert is an .onnx file")
    check_destination(out, force)  # before the (slow) conversion
    if options.inputs:
        check_input_path(options.inputs)
    model = load_source(source, options.trust)
    conv = converter(model.framework)
    with converting(model):
        proto, notes = conv.to_onnx(model, options)
    onnx = require("onnx", "convert")
    with atomic_file(out, force=force) as tmp:
        try:
            onnx.save(proto, str(tmp))
        except ValueError as exc:  # over protobuf's 2 GiB
            raise UnsupportedError(f"{out}: cannot write the ONNX model ({exc})") from None
    return _check(model, out, proto, options, notes + model.notes, "convert")


def verify(
    source: Any, onnx_path: str | os.PathLike, options: ConvertOptions | None = None
) -> ConversionReport:
    """Check an ONNX model made elsewhere against its source model."""
    options = options or ConvertOptions()
    path = check_input_path(onnx_path)
    if options.inputs:
        check_input_path(options.inputs)
    proto, checked = _checked_onnx(path)
    model = load_source(source, options.trust)
    return _check(model, path, proto, options, list(model.notes), "verify", checked)


@dataclass(frozen=True)
class CheckedOnnx:
    """An ONNX model's bytes as onnxruntime gets them (external data inline), and the sha256
    of the file itself."""

    data: bytes
    sha256: str


def _checked_onnx(path: Path) -> tuple[Any, CheckedOnnx]:
    """The ONNX model at path, read from one descriptor as the ONNX reader reads it, and its
    bytes with every external tensor put inline, each read through exporter's own checks
    (onnx_external: inside the model's folder, no symlink, one hard link, regular file, range
    inside it), so neither onnx nor onnxruntime opens a file."""
    require("onnx", "convert")
    from exporter.models.onnx.external import inline_external_data
    from exporter.models.onnx.graph import has_external_data, model_bytes, parse_model

    source = InputFile(path, folder=False)
    data = model_bytes(source)
    proto = parse_model(data, path)
    digest = hashlib.sha256(data).hexdigest()
    if not has_external_data(proto):
        return proto, CheckedOnnx(data, digest)
    inline_external_data(proto, source.parent(), str(path))
    try:
        return proto, CheckedOnnx(proto.SerializeToString(), digest)
    except ValueError:  # over protobuf's 2 GiB once the external data is inline
        raise UnsupportedError(
            f"{path}: with its external data the model is over 2 GiB, more than verify can "
            "check in memory"
        ) from None


def _check(
    model: SourceModel,
    path: Path,
    proto: Any,
    options: ConvertOptions,
    notes: list[str],
    command: str,
    checked: CheckedOnnx | None = None,
) -> ConversionReport:
    """The report of a conversion or verification; checked (verify): the model as read and
    checked by exporter, given to onnxruntime instead of path."""
    conv = converter(model.framework)
    checks: list[OutputCheck] = []
    validation: dict[str, Any] = {"performed": options.validate}
    if options.validate:
        hint = (
            f"are the ONNX model and the source the same model? ({path} is unchanged)"
            if command == "verify"
            else f"pass real inputs with --inputs FILE.npz ({path} was written)"
        )
        data = checked.data if checked else None
        checks, validation = _validate(model, path, options, notes, hint, data)
    weights = match_weights(conv.weights(model), proto, notes)
    library = conv.library if command == "convert" else None
    onnx = onnx_json(path, proto, library, checked.sha256 if checked else _file_sha256(path))
    document = report_document(model, command, onnx, validation, weights, notes)
    return ConversionReport(document, checks)


def _file_sha256(path: Path) -> str:
    from exporter.files.hashing import file_sha256

    return file_sha256(path)


def _validate(
    model: SourceModel, path: Path, options: ConvertOptions, notes: list[str], hint: str,
    data: bytes | None = None,
) -> tuple[list[OutputCheck], dict[str, Any]]:  # fmt: skip
    conv = converter(model.framework)
    runner = OnnxRunner(path, data)
    double = any(spec.dtype == np.float64 for spec in runner.inputs)
    atol, rtol = options.tolerances(double)
    if options.inputs:
        inputs = user_inputs(options.inputs, runner.inputs)
        origin = {"origin": "file", "file": Path(options.inputs).name}
    else:
        rng = np.random.default_rng(options.seed)
        samples = _batch_size(runner.inputs, options.samples, notes)
        inputs = conv.sample_inputs(model, runner.inputs, rng, samples)
        rows = len(next(iter(inputs.values()))) if inputs else samples
        origin = {"origin": "seeded", "seed": options.seed, "samples": rows}
    where = "given" if options.inputs else "generated"
    source_run = lambda: conv.run(model, inputs, options)  # noqa: E731
    expected = _run_or_explain(source_run, f"the source model on the {where} inputs", hint)
    actual = _run_or_explain(lambda: runner.run(inputs), f"onnxruntime on the {where} inputs", hint)
    labels = conv.label_outputs(model, options)
    checks, more = compare(expected, actual, labels, atol, rtol, options.max_label_mismatch)
    notes.extend(more)
    validation = {
        "performed": True,
        "ok": all(c.ok for c in checks),
        "inputs": {**origin, "arrays": [array_json(k, v) for k, v in inputs.items()]},
        "atol": atol,
        "rtol": rtol,
        "max_label_mismatch": options.max_label_mismatch,
        "outputs": [finite(c.to_json()) for c in checks],
    }
    return checks, validation


def _run_or_explain(run: Any, what: str, hint: str) -> Any:
    """run(), with a failure on the check's inputs (wrong names, shapes, feature counts, values
    a model refuses such as unknown categories) as one InputError line ending with hint."""
    try:
        return run()
    except ExporterError:
        raise
    except Exception as exc:  # onnxruntime, Keras and scikit-learn each raise their own types
        cause = error_cause(exc)
        raise InputError(f"the check could not run {what} ({cause}); {hint}") from None


def _batch_size(specs: list[Any], requested: int, notes: list[str]) -> int:
    """The rows to check with: the graph's fixed batch size when it has one, else requested."""
    fixed = {spec.shape[0] for spec in specs if spec.shape and isinstance(spec.shape[0], int)}
    if len(fixed) == 1:
        (size,) = fixed
        if size != requested:
            notes.append(f"the ONNX inputs have a fixed batch size of {size}: checked {size} rows")
        return size
    return requested
