"""The numerical check: the source model and onnxruntime on the same inputs, output by output.

Names first (every source output must be an ONNX output; if no name matches at all and the
counts agree, outputs are paired by position and the report says so), then shapes, then values:
`|onnx - source| <= atol + rtol * |source|` element by element (NaN equals NaN). Class labels are
compared for equality and pass while the fraction that differ is at most max_label_mismatch.
A source output that knows what it means (an `aligned(shape)` method) is first laid out like its
ONNX output (a converter's shape quirks: [n] labels as [1, n], a binary score in two columns).
All problems are gathered; nothing stops at the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.convert.base import InputSpec
from exporter.core.dtypes import by_onnx_type
from exporter.core.errors import InputError, UsageError, require
from exporter.diff import compare_arrays  # the one definition of "within tolerance"

STRING = "STRING"  # onnxruntime's tensor(string): given as numpy str arrays


@dataclass
class OutputCheck:
    """How one output compared."""

    name: str
    onnx_name: str | None
    kind: str  # "values" or "labels"
    ok: bool
    problem: str | None = None
    source_shape: list[int] | None = None
    onnx_shape: list[int] | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatched: int | None = None
    total: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    def line(self) -> str:
        """One ✓/✗ line for people."""
        mark = "✓" if self.ok else "✗"
        where = (
            self.name if self.onnx_name in (None, self.name) else f"{self.name}->{self.onnx_name}"
        )
        if self.problem and self.max_abs_error is None and self.mismatched is None:
            return f"{mark} {where}: {self.problem}"
        if self.kind == "labels":
            text = f"{mark} {where}: {self.mismatched} of {self.total} labels differ"
        else:
            text = (
                f"{mark} {where}: max abs error {self.max_abs_error:.3g}, "
                f"max rel error {self.max_rel_error:.3g}"
            )
            if self.mismatched:
                text += f", {self.mismatched} of {self.total} values outside tolerance"
        return text + (f" ({self.problem})" if self.problem else "")


class OnnxRunner:
    """An onnxruntime session on a model file, with its input and output specs.

    With data (the model's bytes, its external data already resolved through exporter's checks)
    onnxruntime opens no file of its own, so it cannot follow a link the checks did not see;
    path then only names the model in messages."""

    def __init__(self, path: Path, data: bytes | None = None):
        ort = require("onnxruntime", "convert")
        try:
            model = str(path) if data is None else data
            self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path}: onnxruntime cannot load it: {first}") from None
        self.inputs = [
            InputSpec(i.name, input_dtype(i.type), _dims(i.shape))
            for i in self.session.get_inputs()
        ]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
        return dict(zip(self.outputs, self.session.run(None, inputs), strict=True))


def input_dtype(type_name: str) -> np.dtype:
    """The numpy dtype of an onnxruntime input type ('tensor(float)'): the dtype table's row
    for its ONNX element type, str for strings, float32 for anything else (onnxruntime then
    names the type it wants)."""
    from onnx import TensorProto

    inner = type_name.removeprefix("tensor(").removesuffix(")").upper()
    if inner == STRING:
        return np.dtype(np.str_)
    try:
        row = by_onnx_type(TensorProto.DataType.Value(inner))
    except ValueError:
        row = None
    return row.numpy if row is not None else np.dtype(np.float32)


def _dims(shape: list[Any]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


def user_inputs(path: str, specs: list[InputSpec]) -> dict[str, np.ndarray]:
    """Inputs from an .npz (keys = input names; 'X' for a one-input model), cast to the ONNX
    input dtypes (the source model gets the same cast values)."""
    from exporter.readers import read_path

    # exporter's own NPZ reader: one descriptor (never blocking, never reopened by path), zip
    # sizes and .npy headers checked against what is stored before anything is allocated
    ws = read_path(path)
    if ws.info.kind != "npz":
        raise InputError(f"{path}: not an .npz of inputs (it is {ws.info.kind})")
    arrays = {tensor.name: tensor.read() for tensor in ws}
    if len(specs) == 1 and specs[0].name not in arrays and set(arrays) == {"X"}:
        arrays = {specs[0].name: arrays["X"]}
    missing = [s.name for s in specs if s.name not in arrays]
    if missing:
        raise UsageError(
            f"{path}: no array for input(s) {', '.join(missing)} (has: {', '.join(arrays)}); "
            "name the arrays after the model's inputs"
        )
    return {s.name: np.asarray(arrays[s.name]).astype(s.dtype, copy=False) for s in specs}


def pair_outputs(expected: list[str], onnx: list[str]) -> tuple[dict[str, str | None], bool]:
    """source output name -> ONNX output name; True when paired by position."""
    if not set(expected) & set(onnx) and len(expected) == len(onnx):
        return dict(zip(expected, onnx, strict=True)), True
    return {name: (name if name in onnx else None) for name in expected}, False


def compare(
    expected: dict[str, Any],
    actual: dict[str, Any],
    labels: set[str],
    atol: float,
    rtol: float,
    max_label_mismatch: float,
) -> tuple[list[OutputCheck], list[str]]:
    """Compare every source output with its ONNX output; returns the checks and notes."""
    pairing, by_position = pair_outputs(list(expected), list(actual))
    notes = []
    if by_position:
        notes.append(
            "no output name matched; outputs paired by position: "
            + ", ".join(f"{s}->{o}" for s, o in pairing.items())
        )
    checks = []
    for name, onnx_name in pairing.items():
        kind = "labels" if name in labels else "values"
        if onnx_name is None:
            problem = f"missing from the ONNX outputs ({', '.join(actual)})"
            checks.append(OutputCheck(name, None, kind, False, problem))
            continue
        onnx = _as_array(actual[onnx_name])
        source = _aligned(expected[name], onnx.shape)
        check = OutputCheck(name, onnx_name, kind, True, None, list(source.shape), list(onnx.shape))
        if source.shape != onnx.shape:
            check.ok, check.problem = (
                False,
                f"shape {list(onnx.shape)}, expected {list(source.shape)}",
            )
        elif kind == "labels":
            _compare_labels(check, source, onnx, max_label_mismatch)
        else:
            _compare_values(check, source, onnx, atol, rtol)
        checks.append(check)
    extra = [o for o in actual if o not in pairing.values()]
    if extra:
        notes.append(
            f"ONNX outputs not compared (the source has no such output): {', '.join(extra)}"
        )
    return checks, notes


def _aligned(value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A source output as an array; one that knows its meaning (it has `aligned`, e.g.
    sklearn_outputs.SourceOutput) is laid out like the ONNX output it is compared with."""
    if hasattr(value, "aligned"):
        return np.asarray(value.aligned(shape))
    return np.asarray(value)


def _as_array(value: Any) -> np.ndarray:
    """onnxruntime output as an array; a ZipMap's list of dicts becomes samples x classes, a
    sequence of per-output tensors (samples x k_i) is laid side by side."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return np.array([list(row.values()) for row in value])
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return np.concatenate([part.reshape(len(part), -1) for part in value], axis=1)
    return np.asarray(value)


def _compare_labels(check: OutputCheck, source: np.ndarray, onnx: np.ndarray, limit: float) -> None:
    if source.dtype.kind in "US" or onnx.dtype.kind in "US":
        same = source.astype(str) == onnx.astype(str)
    else:
        same = source == onnx
    check.total = int(same.size)
    check.mismatched = int(same.size - np.count_nonzero(same))
    fraction = check.mismatched / max(check.total, 1)
    if fraction > limit:
        check.ok = False
        check.problem = f"{fraction:.2%} of labels differ, allowed {limit:.2%}"


def _compare_values(
    check: OutputCheck, source: np.ndarray, onnx: np.ndarray, atol: float, rtol: float
) -> None:
    if source.dtype.kind not in "biuf" or onnx.dtype.kind not in "biuf":
        same = source.astype(str) == onnx.astype(str)
        check.total, check.mismatched = int(same.size), int(same.size - np.count_nonzero(same))
        check.ok = check.mismatched == 0
        check.problem = None if check.ok else "values differ"
        return
    check.max_abs_error, check.max_rel_error, outside = compare_arrays(onnx, source, atol, rtol)
    check.total, check.mismatched = int(source.size), outside
    if check.mismatched:
        check.ok = False
        check.problem = f"outside atol={atol:g} rtol={rtol:g}"
