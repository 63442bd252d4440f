"""ONNX models (`.onnx`), read with onnx and numpy only.

Every place an ONNX model stores parameters (FORMATS.md, "ONNX: where parameters live") becomes
tensors, in this order, graph by graph:

- `graph.initializer`, named as they are (`W`, `fc1.weight`).
- `graph.sparse_initializer` S: two tensors, `S/values` and `S/indices`, exactly as stored
  (indices are `[NNZ]` linear positions or `[NNZ, rank]` coordinates). The dense shape is not a
  tensor: it is in both tensors' `origin` and in the source info under `sparse`.
- `Constant` nodes, named by their output: `value` (a tensor), `sparse_value` (`values`/`indices`
  as above), `value_float`/`value_int` (0-d float32/int64), `value_floats`/`value_ints` (1-D).
- ai.onnx.ml nodes (LinearRegressor, Scaler, SVM*, TreeEnsemble*, ...): every FLOAT, FLOATS, INT,
  INTS, TENSOR(S) and SPARSE_TENSOR attribute as `<node>/<attribute>`, FLOAT(S) as float32 and
  INT(S) as int64 (0-d for one value, 1-D for a list), as ONNX stores them: no reshaping and no
  sklearn names (LinearRegressor `coefficients` is flat, targets x features).
- Subgraphs (If `then_branch`/`else_branch`, Loop and Scan `body`, any GRAPH(S) attribute),
  recursively, prefixed `<node>/<attribute>/` (`if_node/then_branch/W`; GRAPHS add `/<i>`).
- Model-local functions as `functions/<domain>.<name>/...` (`functions/<name>/...` for the
  default domain; `:<overload>` appended when set), and `training_info/<i>/initialization|algorithm/`.

`<node>` is the node's name, or its op_type when it has none. When several nodes of one graph that
hold parameters would get the same label, each of them gets `_<index in graph.node>` appended.

Strings (STRING tensors, `value_string(s)`, STRING(S) attributes such as `classlabels_strings`)
are not numbers: they go to the source info under `strings`, keyed by the same canonical name,
as `{"shape": [...], "values": [...]}`. Tensors computed by ops when the model runs
(`ConstantOfShape`) are not stored, so they are not exported: they are listed under `computed`
(output, op, fill value) with a warning. The fill value is a one-element setting of the op, not a
parameter.

ONNX names that are not safe tensor names (PyTorch writes `/Constant_output_0`) are made safe
(empty segments dropped; `.`/`..` segments, backslashes and control characters %-escaped); the
original name is in each tensor's `origin`, and a warning says how many changed.

Values stay lazy: a tensor is decoded (`onnx.numpy_helper.to_array`) or memory-mapped from its
external data file (checked first, see external.py) only when it is read.

This module recognises and loads model files and builds the WeightSet; the walk over every place
above is walk.py (the conversion report uses it too), turning protos into tensors values.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.core.errors import InputError
from exporter.core.weightset import ModelInfo, Note, WeightSet
from exporter.files.inputs import Folder, InputFile, as_input, read_bounded
from exporter.models.onnx.external import EXTERNAL, tensor_protos
from exporter.models.onnx.quant import link_quantization
from exporter.models.onnx.walk import Walker, walk
from exporter.readers import READERS, Probe, Reader, ReadOptions

MAX_PROTO_BYTES = (1 << 31) - 1

# ModelProto field number -> protobuf wire type (0 varint, 2 length-delimited).
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_GRAPH_FIELD = 7
_TEXT_FIELDS = (2, 3, 4, 6)  # producer_name, producer_version, domain, doc_string
_MAX_IR_VERSION = 64


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


def looks_like_model(head: bytes, whole: bool) -> bool:
    """True if head parses as the start of a ModelProto that reaches its graph field.

    Checks field numbers and wire types of ModelProto, a plausible ir_version and UTF-8 text
    fields. whole: head is the entire file, so it must also end on a field boundary.
    """
    pos, seen = 0, set()
    while pos < len(head):
        tag, pos = _varint(head, pos)
        value, pos = _varint(head, pos) if tag is not None else (None, pos)
        if value is None:
            break
        field, wire = tag >> 3, tag & 7
        if _MODEL_FIELDS.get(field) != wire:
            return False
        if field == 1 and not 1 <= value <= _MAX_IR_VERSION:
            return False
        if field in _TEXT_FIELDS and not _is_utf8(head[pos : pos + value]):
            return False
        seen.add(field)
        if wire == 2:
            pos += value
    if whole and pos != len(head):
        return False
    return _GRAPH_FIELD in seen


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end of head is fine
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True


def _is_onnx(probe: Probe) -> bool:
    if probe.is_dir or probe.members:
        return False
    if probe.suffix.endswith(".onnx"):
        return True  # read() says clearly when it is not a valid model
    whole = probe.input.size <= len(probe.head)
    return probe.head[:1] == b"\x08" and looks_like_model(probe.head, whole)


# ---------------------------------------------------------------- the model


def _opsets(model) -> dict[str, int]:
    return {(op.domain or "ai.onnx"): int(op.version) for op in model.opset_import}


def _info(model, collector: Walker, file: str | None, sha256: str | None) -> ModelInfo:
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    extra: dict[str, Any] = {
        "ir_version": int(model.ir_version),
        "opset_import": _opsets(model),
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "graph_name": model.graph.name,
    }
    if model.domain:
        extra["domain"] = model.domain
    if model.model_version:
        extra["model_version"] = int(model.model_version)
    if model.metadata_props:
        extra["metadata_props"] = {p.key: p.value for p in model.metadata_props}
    for key in ("strings", "sparse", "computed"):
        if getattr(collector, key):
            extra[key] = getattr(collector, key)
    if collector.external:
        extra["external_data"] = sorted(collector.external)
    if quantization := link_quantization(model.graph, file or "model"):
        extra["quantization"] = quantization  # quant.py: weights -> scale, zero point, axis
    info = ModelInfo(
        kind="onnx",
        framework="onnx",
        framework_version=producer or None,
        model_name=model.graph.name or None,
        file=file,
        digest=sha256,
        extra=extra,
    )
    info.warn(*_warnings(collector))
    return info


def _warnings(collector: Walker) -> list[Note]:
    found = []
    if collector.computed:
        outputs = ", ".join(c["output"] for c in collector.computed[:3])
        more = " ..." if len(collector.computed) > 3 else ""
        found.append(
            Note(
                "onnx-computed",
                f"{len(collector.computed)} tensor(s) are computed by ConstantOfShape when the model "
                f"runs ({outputs}{more}); they are not stored, so not exported (see source info 'computed')",
            )
        )
    if collector.renamed:
        found.append(
            Note(
                "onnx-renamed",
                f"{len(collector.renamed)} ONNX name(s) were not safe tensor names and were made safe; "
                "each tensor's origin holds the ONNX name",
            )
        )
    return found


def weightset_from_onnx(
    model,
    *,
    folder: Folder | Path | None = None,
    file: str | None = None,
    sha256: Any = None,
) -> WeightSet:
    """A WeightSet from a loaded ModelProto; folder is where its external data files are
    (a Folder opened with the model file, or a path)."""
    if not model.HasField("graph"):
        raise InputError(f"{file or 'model'}: not a valid ONNX model (it has no graph)")
    try:
        collector = walk(model, folder, file or "model")
        info = _info(model, collector, file, sha256)
    except TypeError as exc:
        # protobuf hands back bytes, not str, for a string field that is not valid UTF-8
        if "bytes" not in str(exc):
            raise
        raise InputError(
            f"{file or 'model'}: a name or text field is not valid UTF-8; the model is damaged"
        ) from None
    return WeightSet(collector.tensors, info)


def load_model_proto(source: InputFile | Path):
    """The ModelProto in the opened input (read from its descriptor), without its external
    data; InputError if it is not one."""
    source = as_input(source, folder=False)
    return parse_model(model_bytes(source), source.path)


def model_bytes(source: InputFile) -> bytes:
    """The bytes of an ONNX model file, read from its descriptor, bounded by what one protobuf
    can hold."""
    path, size = source.path, source.size
    if size > MAX_PROTO_BYTES:
        raise InputError(
            f"{path}: {size} bytes is more than the 2 GiB one ONNX protobuf can hold, so it is "
            "not a valid ONNX model (large models keep their weights in external data files)"
        )
    return read_bounded(source.fd, MAX_PROTO_BYTES, str(path))


def parse_model(data: bytes, path: Path):
    """The ModelProto in data (a model file's bytes); InputError if it is not one."""
    import onnx
    from google.protobuf.message import DecodeError

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InputError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph"):
        raise InputError(f"{path}: not a valid ONNX model (no graph)")
    return model


def read_onnx(source: InputFile, options: ReadOptions) -> WeightSet:
    """Read an ONNX model file: every stored parameter, external data memory-mapped lazily
    from the folder that holds the very file read."""
    model = load_model_proto(source)
    folder = source.parent() if has_external_data(model) else None
    return weightset_from_onnx(model, folder=folder, file=source.name, sha256=source.digest())


def has_external_data(model) -> bool:
    """True if any tensor of the model keeps its bytes in an external data file."""
    return any(t.data_location == EXTERNAL for t in tensor_protos(model))


READERS.register("onnx", Reader("onnx", _is_onnx, read_onnx, "ONNX model (.onnx)"))
