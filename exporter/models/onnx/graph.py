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
external data file (checked first, see onnx_external) only when it is read.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.dtypes import SUPPORTED, dtype_name, is_float
from exporter.core.errors import InputError, UnsupportedError
from exporter.core.weightset import ModelInfo, Tensor, WeightSet
from exporter.files.archive import declared_nbytes
from exporter.files.inputs import Folder, InputFile, as_input, read_bounded
from exporter.models.onnx.external import external_ref, load_external
from exporter.readers import READERS, Probe, Reader, ReadOptions

MAX_PROTO_BYTES = (1 << 31) - 1
ML_DOMAIN = "ai.onnx.ml"
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL

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


# ---------------------------------------------------------------- names


def _escape_segment(segment: str) -> str:
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return "".join(f"%{ord(c):02X}" if ord(c) < 32 or c == "\\" else c for c in segment)


def safe_name(raw: str) -> str:
    """raw as a safe tensor name: empty segments dropped, '.', '..', '\\' and controls escaped."""
    segments = [_escape_segment(s) for s in raw.split("/") if s]
    return "/".join(segments)


def _node_labels(nodes) -> dict[int, str]:
    """Labels of the nodes that hold parameters: name or op_type, made unique by index."""
    wanted = {i: (n.name or n.op_type) for i, n in enumerate(nodes) if _holds_parameters(n)}
    counts = Counter(wanted.values())
    return {i: label if counts[label] == 1 else f"{label}_{i}" for i, label in wanted.items()}


def _holds_parameters(node) -> bool:
    return node.domain == ML_DOMAIN or any(a.type in (5, 10) for a in node.attribute)


# ---------------------------------------------------------------- the walk


class _Collector:
    """Walks a ModelProto and gathers tensors, strings and computed values."""

    def __init__(self, folder: Folder | Path | None, where: str):
        self.folder = folder
        self.where = where
        self.tensors: list[Tensor] = []
        self.strings: dict[str, Any] = {}
        self.sparse: dict[str, Any] = {}
        self.computed: list[dict[str, Any]] = []
        self.external: set[str] = set()
        self.renamed: set[str] = set()

    def name(self, raw: str) -> str:
        name = safe_name(raw)
        if not name:
            raise InputError(f"{self.where}: a tensor has an empty name ({raw!r})")
        if name != raw:
            self.renamed.add(raw)
        return name

    def graph(self, graph, prefix: str, scope: str) -> None:
        for tensor in graph.initializer:
            self.tensor(prefix + tensor.name, tensor, f"{scope}initializer {tensor.name!r}")
        for sparse in graph.sparse_initializer:
            raw = sparse.values.name
            self.sparse_tensor(prefix + raw, sparse, f"{scope}sparse_initializer {raw!r}")
        self.nodes(graph.node, prefix, scope)

    def nodes(self, nodes, prefix: str, scope: str) -> None:
        labels = _node_labels(nodes)
        for index, node in enumerate(nodes):
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.constant(node, prefix, scope)
            elif node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx"):
                self.constant_of_shape(node, prefix)
            if index not in labels:
                continue
            label = labels[index]
            node_scope = f"{scope}{node.op_type} {label!r} "
            for attr in node.attribute:
                if attr.ref_attr_name:  # set by a function's caller: nothing stored here
                    continue
                if attr.type in (5, 10):  # GRAPH, GRAPHS
                    self.subgraphs(attr, f"{prefix}{label}/{attr.name}/", node_scope)
                elif node.domain == ML_DOMAIN:
                    self.attribute(f"{prefix}{label}/{attr.name}", attr, node_scope)

    def subgraphs(self, attr, prefix: str, scope: str) -> None:
        if attr.type == 5:
            self.graph(attr.g, prefix, f"{scope}{attr.name}: ")
        for i, graph in enumerate(attr.graphs):
            self.graph(graph, f"{prefix}{i}/", f"{scope}{attr.name}[{i}]: ")

    def constant(self, node, prefix: str, scope: str) -> None:
        if not node.output or not node.attribute:
            return
        raw = node.output[0]
        for attr in node.attribute:
            if attr.ref_attr_name:  # a function's attribute, set by the caller: nothing stored
                continue
            self.attribute(prefix + raw, attr, f"{scope}Constant {raw!r} ")

    def constant_of_shape(self, node, prefix: str) -> None:
        value: Any = 0.0  # the ONNX default fill value
        for attr in node.attribute:
            if attr.name == "value" and attr.type == 4 and not attr.ref_attr_name:
                value = _first_value(self.decode(attr.t, "ConstantOfShape value"))
        self.computed.append(
            {
                "output": prefix + (node.output[0] if node.output else ""),
                "op": "ConstantOfShape",
                "shape_from": node.input[0] if node.input else None,
                "value": value,
            }
        )

    def functions(self, model) -> None:
        for function in model.functions:
            ident = f"{function.domain}.{function.name}" if function.domain else function.name
            if function.overload:
                ident += f":{function.overload}"
            self.nodes(function.node, f"functions/{ident}/", f"function {ident!r}: ")

    def training_info(self, model) -> None:
        for i, info in enumerate(model.training_info):
            for part in ("initialization", "algorithm"):
                if info.HasField(part):
                    prefix = f"training_info/{i}/{part}/"
                    self.graph(getattr(info, part), prefix, f"training_info[{i}].{part}: ")

    # ------------------------------------------------------------ values

    def attribute(self, raw: str, attr, scope: str) -> None:
        """One attribute of a Constant or ai.onnx.ml node, as tensors or strings."""
        kind = attr.type or _infer_attr_type(attr)
        origin = f"{scope}attribute {attr.name}"
        if kind == 1:  # FLOAT
            self.array(raw, np.array(attr.f, np.float32), origin)
        elif kind == 2:  # INT
            self.array(raw, np.array(attr.i, np.int64), origin)
        elif kind == 6:  # FLOATS
            self.array(raw, np.array(attr.floats, np.float32), origin)
        elif kind == 7:  # INTS
            self.array(raw, np.array(attr.ints, np.int64), origin)
        elif kind == 3:  # STRING
            self.put_strings(raw, [attr.s], [])
        elif kind == 8:  # STRINGS
            self.put_strings(raw, list(attr.strings), [len(attr.strings)])
        elif kind == 4:  # TENSOR
            self.tensor(raw, attr.t, origin)
        elif kind == 9:  # TENSORS
            for i, tensor in enumerate(attr.tensors):
                self.tensor(f"{raw}/{i}", tensor, f"{origin}[{i}]")
        elif kind == 11:  # SPARSE_TENSOR
            self.sparse_tensor(raw, attr.sparse_tensor, origin)
        elif kind == 12:  # SPARSE_TENSORS
            for i, sparse in enumerate(attr.sparse_tensors):
                self.sparse_tensor(f"{raw}/{i}", sparse, f"{origin}[{i}]")
        # TYPE_PROTO(S) describe types, not values.

    def array(self, raw: str, array: np.ndarray, origin: str) -> None:
        name = self.name(raw)
        self.tensors.append(Tensor.from_array(name, array, origin=origin))

    def put_strings(self, raw: str, values: list, shape: list[int]) -> None:
        text = [
            v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else str(v)
            for v in values
        ]
        name = self.name(raw)
        if name in self.strings:
            raise InputError(f"{self.where}: duplicate string value name {name!r}")
        self.strings[name] = {"shape": shape, "values": text}

    def sparse_tensor(self, raw: str, sparse, origin: str) -> None:
        dims = [int(d) for d in sparse.dims]
        label = f"{self.where}: sparse tensor {raw!r}"
        declared_nbytes(dims, 1, f"{label} (dense shape)")  # refused when negative or absurd
        nnz = declared_nbytes(sparse.values.dims, 1, f"{label} values") if sparse.values.dims else 0
        where = f"{origin}, dense shape {dims}"
        self.sparse[self.name(raw)] = {"dims": dims, "nnz": nnz}
        self.tensor(f"{raw}/values", sparse.values, f"{where}: values")
        self.tensor(f"{raw}/indices", sparse.indices, f"{where}: indices")

    def tensor(self, raw: str, proto, origin: str) -> None:
        """A TensorProto as a lazy Tensor (or strings); stored size checked now."""
        label = f"{self.where}: tensor {raw!r}"
        dtype = _np_dtype(proto, label)
        if dtype.kind == "O":
            values = self.decode(proto, raw)
            self.put_strings(raw, values.reshape(-1).tolist(), list(values.shape))
            return
        shape = tuple(int(d) for d in proto.dims)
        nbytes = declared_nbytes(shape, dtype.itemsize, label)  # Python ints: no int64 wrap
        if proto.data_location == EXTERNAL:
            source, origin = self.external_source(proto, dtype, shape, nbytes, label, origin)
        else:  # checked now, so spec and check (which read no values) refuse it too
            _check_stored_size(proto, dtype, shape, label)
            in_raw_data = proto.HasField("raw_data") and sys.byteorder == "little"
            source = (_raw_decoder if in_raw_data else _decoder)(proto, dtype, shape, label)
        name = self.name(raw)
        self.tensors.append(Tensor(name, dtype, shape, source, origin=origin[:2000]))

    def external_source(self, proto, dtype, shape, nbytes: int, label: str, origin: str):
        if self.folder is None:
            raise InputError(f"{label}: uses external data, but the model was not read from a file")
        ref = external_ref(proto, self.folder, nbytes, label)
        self.external.add(ref.location)

        def load() -> np.ndarray:
            return load_external(ref, dtype, shape, label)

        where = f"{origin}, external {ref.location!r} offset {ref.offset} length {ref.length}"
        return load, where

    def decode(self, proto, raw: str) -> np.ndarray:
        """A small TensorProto (strings, a ConstantOfShape value) decoded now, its declared
        size checked against what it stores first."""
        from onnx import numpy_helper

        label = f"{self.where}: tensor {raw!r}"
        if proto.data_location == EXTERNAL:  # onnx would read it relative to the working folder
            raise UnsupportedError(
                f"{label}: keeps strings or a fill value in external data, which exporter does "
                "not read; keep such tensors inside the model"
            )
        dtype = _np_dtype(proto, label)
        shape = tuple(int(d) for d in proto.dims)
        declared_nbytes(shape, dtype.itemsize, label)
        if dtype.kind == "O":
            _size_error(len(proto.string_data), math.prod(shape), "strings", shape, label)
        else:
            _check_stored_size(proto, dtype, shape, label)
        try:
            return numpy_helper.to_array(proto)
        except Exception as exc:
            raise InputError(
                f"{self.where}: tensor {raw!r} cannot be decoded ({type(exc).__name__}: {exc})"
            ) from None


def _first_value(array: np.ndarray) -> Any:
    """The first element of array as a plain Python value (None when empty)."""
    flat = array.reshape(-1)
    if not flat.size:
        return None
    return float(flat[0]) if is_float(flat.dtype) else flat[0].item()


def _infer_attr_type(attr) -> int:
    """The type of an attribute from old models that left `type` unset (by the field present)."""
    for kind, field in ((1, "f"), (2, "i"), (3, "s"), (4, "t"), (5, "g"), (11, "sparse_tensor")):
        if attr.HasField(field):
            return kind
    for kind, field in ((6, "floats"), (7, "ints"), (8, "strings"), (9, "tensors"), (10, "graphs")):
        if len(getattr(attr, field)):
            return kind
    return 0


def _np_dtype(proto, label: str) -> np.dtype:
    from onnx import TensorProto, helper

    if proto.data_type == TensorProto.UNDEFINED:
        raise InputError(f"{label}: has no data type; the model is damaged")
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(proto.data_type))
    except (KeyError, ValueError, TypeError):
        raise InputError(f"{label}: unknown ONNX data type {proto.data_type}") from None
    if dtype.kind != "O":
        try:
            dtype_name(dtype)
        except InputError:
            onnx_name = TensorProto.DataType.Name(proto.data_type)
            raise UnsupportedError(
                f"{label}: is {onnx_name}, which exporter cannot export "
                f"(it handles {', '.join(SUPPORTED)} and strings)"
            ) from None
    return dtype


# The typed field of a TensorProto that holds each supported dtype when raw_data is not used.
_TYPED_FIELD = {
    "float32": "float_data",
    "float64": "double_data",
    "int64": "int64_data",
    "uint32": "uint64_data",
    "uint64": "uint64_data",
}


def _check_stored_size(proto, dtype: np.dtype, shape: tuple[int, ...], label: str) -> None:
    """InputError unless the tensor stores exactly prod(shape) values of dtype (counted in
    Python integers: numpy int64 wraps)."""
    count = math.prod(shape)
    if proto.HasField("raw_data"):
        _size_error(len(proto.raw_data), count * dtype.itemsize, "bytes", shape, label)
    else:
        field = _TYPED_FIELD.get(dtype_name(dtype), "int32_data")
        _size_error(len(getattr(proto, field)), count, "values", shape, label)


def _size_error(stored: int, expected: int, unit: str, shape: tuple[int, ...], label: str) -> None:
    if stored != expected:
        raise InputError(
            f"{label}: stores {stored} {unit}, but its dtype and shape {list(shape)} need "
            f"{expected}; the model is damaged"
        )


def _raw_decoder(proto, dtype: np.dtype, shape: tuple[int, ...], label: str):
    """Loader of a tensor kept in raw_data (little-endian bytes of dtype, size checked when the
    model was read): the bytes are copied out of the protobuf once and used as they are."""
    expected = math.prod(shape) * dtype.itemsize

    def load() -> np.ndarray:
        raw = proto.raw_data
        _size_error(len(raw), expected, "bytes", shape, label)  # a proto changed since
        return np.frombuffer(raw, dtype).reshape(shape)

    return load


def _decoder(proto, dtype: np.dtype, shape: tuple[int, ...], label: str):
    def load() -> np.ndarray:
        from onnx import numpy_helper

        try:
            array = numpy_helper.to_array(proto)
        except Exception as exc:
            raise InputError(f"{label}: cannot be decoded ({type(exc).__name__}: {exc})") from None
        return array.reshape(shape)

    return load


# ---------------------------------------------------------------- the model


def _opsets(model) -> dict[str, int]:
    return {(op.domain or "ai.onnx"): int(op.version) for op in model.opset_import}


def _info(model, collector: _Collector, file: str | None, sha256: str | None) -> ModelInfo:
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
    info = ModelInfo(
        kind="onnx",
        framework="onnx",
        framework_version=producer or None,
        model_name=model.graph.name or None,
        file=file,
        sha256=sha256,
        extra=extra,
    )
    info.warnings.extend(_warnings(collector))
    return info


def _warnings(collector: _Collector) -> list[str]:
    found = []
    if collector.computed:
        outputs = ", ".join(c["output"] for c in collector.computed[:3])
        more = " ..." if len(collector.computed) > 3 else ""
        found.append(
            f"{len(collector.computed)} tensor(s) are computed by ConstantOfShape when the model "
            f"runs ({outputs}{more}); they are not stored, so not exported (see source info 'computed')"
        )
    if collector.renamed:
        found.append(
            f"{len(collector.renamed)} ONNX name(s) were not safe tensor names and were made safe; "
            "each tensor's origin holds the ONNX name"
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
    collector = _Collector(folder, file or "model")
    try:
        collector.graph(model.graph, "", "")
        collector.functions(model)
        collector.training_info(model)
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
    import onnx
    from google.protobuf.message import DecodeError

    source = as_input(source, folder=False)
    path, size = source.path, source.size
    if size > MAX_PROTO_BYTES:
        raise InputError(
            f"{path}: {size} bytes is more than the 2 GiB one ONNX protobuf can hold, so it is "
            "not a valid ONNX model (large models keep their weights in external data files)"
        )
    model = onnx.ModelProto()
    try:
        model.ParseFromString(read_bounded(source.fd, MAX_PROTO_BYTES, str(path)))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InputError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph"):
        raise InputError(f"{path}: not a valid ONNX model (no graph)")
    return model


def read_onnx(source: InputFile, options: ReadOptions) -> WeightSet:
    """Read an ONNX model file: every stored parameter, external data memory-mapped lazily
    from the folder that holds the very file read."""
    model = load_model_proto(source)
    folder = source.parent() if _has_external(model) else None
    return weightset_from_onnx(model, folder=folder, file=source.name, sha256=source.digest())


def _has_external(model) -> bool:
    from exporter.models.onnx.external import _tensors

    return any(t.data_location == EXTERNAL for t in _tensors(model))


READERS.register("onnx", Reader("onnx", _is_onnx, read_onnx, "ONNX model (.onnx)"))
