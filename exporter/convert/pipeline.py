"""convert and verify: load the source model, convert it (or read an ONNX made elsewhere), check
it against onnxruntime and say which source weights the ONNX graph holds unchanged."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporter.convert.base import ConvertOptions, SourceModel, converter
from exporter.convert.check import OnnxRunner, OutputCheck, compare, user_inputs
from exporter.convert.weights import match_weights
from exporter.core.errors import (
    CheckFailed,
    ExporterError,
    InputError,
    UnsupportedError,
    UsageError,
    require,
)
from exporter.core.version import __version__
from exporter.files.inputs import InputFile, sha256_fd
from exporter.files.publish import atomic_file, check_destination
from exporter.readers import HDF5_MAGIC, ZIP_MAGIC, check_input_path, probe

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
REPORT_FORMAT = "exporter.conversion-report"
REPORT_VERSION = "1.0.0"
REPORT_SCHEMA = "conversion-report-1.schema.json"
LIBRARIES = {
    "keras": ("tensorflow", "keras", "tf2onnx"),
    "sklearn": ("scikit-learn", "skl2onnx"),
}


@dataclass
class ConversionReport:
    """What a conversion or verification found; `ok` is False when any check failed."""

    document: dict[str, Any]
    checks: list[OutputCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.document["ok"])

    def to_json(self) -> dict[str, Any]:
        return self.document

    def lines(self) -> list[str]:
        """One ✓/✗ line per output, for people."""
        return [check.line() for check in self.checks]

    def raise_for_failure(self) -> None:
        """Raise CheckFailed naming the outputs that did not match."""
        if not self.ok:
            failed = [c.name for c in self.checks if not c.ok]
            onnx = self.document["onnx"]["file"]
            raise CheckFailed(f"{onnx}: outputs differ from the source model: {', '.join(failed)}")

    def write(self, path: str | os.PathLike, force: bool = False) -> None:
        """Write the report as JSON (schema-checked), atomically."""
        from exporter.formats.schemas import check

        check(self.document, REPORT_SCHEMA, "conversion report")
        with atomic_file(path, force=force) as tmp:
            tmp.write_text(json.dumps(self.document, indent=2, ensure_ascii=False) + "\n")


def load_source(source: Any, trust: bool = False) -> SourceModel:
    """A Keras model (.keras, .h5, SavedModel folder) or scikit-learn estimator (.skops, pickle
    with trust), from a path or an in-memory object."""
    if not isinstance(source, (str, os.PathLike)):
        return _object_source(source)
    opened = InputFile(source)  # probed, hashed and loaded from this one descriptor
    path = opened.path
    if opened.is_dir:
        if not (path / "saved_model.pb").is_file():
            raise InputError(
                f"{path}: a folder, but not a TensorFlow SavedModel (no saved_model.pb)"
            )
        from exporter.convert.keras import load_savedmodel

        model = load_savedmodel(path, trust)
        return SourceModel("keras", model, "keras-savedmodel", path.name, None)
    found = probe(opened)
    sha = sha256_fd(opened.fd)
    if "schema.json" in found.members or not found.head.startswith((ZIP_MAGIC, HDF5_MAGIC)):
        from exporter.models.sklearn.files import load_estimator

        pickle_like = _looks_like_pickle(found.head) or path.suffix.lower() in PICKLE_SUFFIXES
        if not found.members and not pickle_like:
            raise InputError(
                f"{path}: not a model exporter converts (Keras .keras/.h5/SavedModel, "
                "scikit-learn .skops or pickle)"
            )
        estimator = load_estimator(opened, trust)
        kind = "sklearn-skops" if found.members else "sklearn-pickle"
        source_model = _object_source(estimator)
        return SourceModel("sklearn", source_model.model, kind, path.name, sha)
    from exporter.models.keras.api import load_keras_model

    kind = "keras-v3" if found.head.startswith(ZIP_MAGIC) else "keras-h5"
    return SourceModel("keras", load_keras_model(opened, trust=trust), kind, path.name, sha)


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


def _looks_like_pickle(head: bytes) -> bool:
    return head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5


def _object_source(obj: Any) -> SourceModel:
    module = type(obj).__module__.split(".")[0]
    if module in ("keras", "tf_keras", "tensorflow"):
        return SourceModel("keras", obj, "keras-object")
    if module == "sklearn" or hasattr(obj, "get_params"):
        return SourceModel("sklearn", obj, "sklearn-object")
    raise UnsupportedError(
        f"cannot convert a {type(obj).__module__}.{type(obj).__name__}: exporter converts Keras "
        "models and scikit-learn estimators"
    )


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


MAX_ONNX_BYTES = (1 << 31) - 1  # protobuf's limit for one message


@dataclass(frozen=True)
class CheckedOnnx:
    """An ONNX model's bytes as onnxruntime gets them (external data inline), and the sha256
    of the file itself."""

    data: bytes
    sha256: str


def _checked_onnx(path: Path) -> tuple[Any, CheckedOnnx]:
    """The ONNX model at path, and its bytes with every external tensor put inline, each read
    through exporter's own checks (onnx_external: inside the model's folder, no symlink, one
    hard link, regular file, range inside it), so neither onnx nor onnxruntime opens a file."""
    onnx = require("onnx", "convert")
    from exporter.files.inputs import open_input, read_bounded
    from exporter.models.onnx.external import inline_external_data

    fd = open_input(path, folder=False)
    try:
        text = read_bounded(fd, MAX_ONNX_BYTES, str(path))
    finally:
        os.close(fd)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(text)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    digest = hashlib.sha256(text).hexdigest()
    if not inline_external_data(proto, path.parent, str(path)):
        return proto, CheckedOnnx(text, digest)
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
    weights = match_weights(conv.weights(model), proto)
    ok = all(check.ok for check in checks)
    document = {
        "format": REPORT_FORMAT,
        "format_version": REPORT_VERSION,
        "command": command,
        "ok": ok,
        "producer": {"name": "exporter", "version": __version__, "libraries": _versions(model)},
        "source": _source_json(model),
        "onnx": _onnx_json(path, proto, conv.library if command == "convert" else None, checked),
        "validation": validation,
        "weights": weights,
        "notes": notes,
    }
    return ConversionReport(document, checks)


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
        "inputs": {**origin, "arrays": [_array_json(k, v) for k, v in inputs.items()]},
        "atol": atol,
        "rtol": rtol,
        "max_label_mismatch": options.max_label_mismatch,
        "outputs": [_finite(c.to_json()) for c in checks],
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


def _array_json(name: str, array: np.ndarray) -> dict[str, Any]:
    return {"name": name, "dtype": array.dtype.name, "shape": list(array.shape)}


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    """JSON has no Infinity/NaN: such errors are recorded as null (the problem says why)."""
    for key in ("max_abs_error", "max_rel_error"):
        if row[key] is not None and not np.isfinite(row[key]):
            row[key] = None
    return row


def _source_json(model: SourceModel) -> dict[str, Any]:
    obj = model.model
    return {
        "kind": model.kind,
        "framework": model.framework,
        "model_class": f"{type(obj).__module__}.{type(obj).__qualname__}",
        "model_name": getattr(obj, "name", None) if model.framework == "keras" else None,
        "file": model.file,
        "sha256": model.sha256,
    }


def _onnx_json(
    path: Path, proto: Any, converter_library: str | None, checked: CheckedOnnx | None = None
) -> dict[str, Any]:
    from onnx import helper

    from exporter.files.hashing import file_sha256

    initializers = {t.name for t in proto.graph.initializer}

    def value_info(value: Any) -> dict[str, Any]:
        kind = value.type.WhichOneof("value")
        row: dict[str, Any] = {"name": value.name, "dtype": None, "shape": None}
        if kind == "tensor_type":
            tensor = value.type.tensor_type
            row["dtype"] = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
            if tensor.HasField("shape"):
                row["shape"] = [
                    d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim
                ]
        else:
            row["dtype"] = kind
        return row

    return {
        "file": path.name,
        "sha256": checked.sha256 if checked else file_sha256(path),
        "converter": converter_library,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip() or None,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in proto.opset_import},
        "inputs": [value_info(v) for v in proto.graph.input if v.name not in initializers],
        "outputs": [value_info(v) for v in proto.graph.output],
    }


def _versions(model: SourceModel) -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in (*LIBRARIES[model.framework], "onnx", "onnxruntime"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            alt = {"tensorflow": "tensorflow-cpu"}.get(name)
            if alt:
                with contextlib.suppress(metadata.PackageNotFoundError):
                    found[name] = metadata.version(alt)
    return found
