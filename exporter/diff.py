"""Compare two sources tensor by tensor, by canonical name.

A and B can be any two sources (model files of any kind, exports). Reports tensors only in A,
only in B, shape or dtype changes, and per common tensor the max absolute and relative
difference. With the default tolerances (0) equal means bit for bit (so -0.0 differs from 0.0,
and NaNs with other bits differ); with a tolerance it means |a - b| <= atol + rtol * |b|
everywhere, NaN equal to NaN in the same place. Tensors are read one pair at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.core.errors import UsageError
from exporter.core.weightset import Tensor, WeightSet


@dataclass
class TensorDiff:
    """How one common tensor differs."""

    name: str
    shape_a: list[int]
    shape_b: list[int]
    dtype_a: str
    dtype_b: str
    max_abs: float | None = None
    max_rel: float | None = None
    differing: int = 0  # elements outside the tolerance
    size: int = 0  # elements compared (0 when the shapes differ)
    equal: bool = True

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DiffReport:
    """The whole comparison: ok when nothing is missing, changed or outside the tolerance."""

    a: str
    b: str
    atol: float
    rtol: float
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    tensors: list[TensorDiff] = field(default_factory=list)
    # Across a conversion (names differ): tensors paired by their values, {"a", "b", "how"}
    paired: list[dict[str, str]] | None = None
    extra: list[str] = field(default_factory=list)  # ONNX parameters no source tensor matched

    @property
    def changed(self) -> list[TensorDiff]:
        return [t for t in self.tensors if not t.equal]

    @property
    def ok(self) -> bool:
        return not (self.only_a or self.only_b or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "atol": self.atol,
            "rtol": self.rtol,
            "equal": self.ok,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "changed": [t.name for t in self.changed],
            "tensors": [t.to_json() for t in self.tensors],
            **(
                {"paired_by_values": self.paired, "onnx_only": self.extra}
                if self.paired is not None
                else {}
            ),
        }


def _wide(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_ or array.dtype.kind in "iu":
        return array.astype(np.float64) if array.dtype.itemsize < 8 else array.astype(object)
    return array.astype(np.float64)


def compare_arrays(
    a: np.ndarray, b: np.ndarray, atol: float, rtol: float
) -> tuple[float, float, int]:
    """(max abs difference, max relative difference, elements outside atol + rtol*|b|)."""
    if a.size == 0:
        return 0.0, 0.0, 0
    x, y = _wide(a), _wide(b)
    if x.dtype == object or y.dtype == object:  # 64-bit ints: exact integer arithmetic
        delta = np.abs(x.astype(object) - y.astype(object))
        scale = np.maximum(np.abs(x.astype(object)), np.abs(y.astype(object)))
        bad = int(np.count_nonzero(delta > atol + rtol * np.abs(y.astype(object))))
        rel = max(
            (float(d) / float(s) for d, s in zip(delta.flat, scale.flat, strict=True) if s),
            default=0.0,
        )
        return float(delta.max()), rel, bad
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.where(same, 0.0, np.abs(x - y))
        delta = np.where(np.isnan(delta), np.inf, delta)
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(delta == 0, 0.0, delta / np.where(scale == 0, 1.0, scale))
        bad = int(np.count_nonzero(~same & ~(delta <= atol + rtol * np.abs(y))))
    return float(delta.max()), float(np.nan_to_num(rel, nan=np.inf).max()), bad


def _compare(ta: Tensor, tb: Tensor, atol: float, rtol: float) -> TensorDiff:
    diff = TensorDiff(ta.name, list(ta.shape), list(tb.shape), ta.dtype_name, tb.dtype_name)
    if tuple(ta.shape) != tuple(tb.shape):
        diff.equal = False
        return diff
    a, b = ta.read(), tb.read()
    diff.size = int(a.size)
    diff.max_abs, diff.max_rel, diff.differing = compare_arrays(a, b, atol, rtol)
    if atol == 0 and rtol == 0 and a.dtype == b.dtype:  # exact means bit for bit: -0.0, NaN bits
        diff.differing = bitwise_differences(a, b)
    diff.equal = diff.differing == 0 and ta.dtype_name == tb.dtype_name
    return diff


def bitwise_differences(a: np.ndarray, b: np.ndarray) -> int:
    """How many elements of two same-dtype arrays differ in their bytes."""
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    x = np.ascontiguousarray(a).reshape(-1).view(unsigned)
    y = np.ascontiguousarray(b).reshape(-1).view(unsigned)
    return int(np.count_nonzero(x != y))


def diff(a: WeightSet, b: WeightSet, *, atol: float = 0.0, rtol: float = 0.0,
         a_label: str = "A", b_label: str = "B", by_values: bool | None = None) -> DiffReport:  # fmt: skip
    """Compare two WeightSets by canonical name; across a conversion (one side ONNX and no name
    in common, or by_values=True) by values instead: each source tensor is paired with the ONNX
    parameter holding its values (exactly, cast, transposed or flattened, as the conversion
    report matches them). A source tensor with no partner (folded into another, rewritten)
    makes the sets differ; ONNX parameters no source tensor explains are listed, not errors."""
    if atol < 0 or rtol < 0:
        raise UsageError("--atol and --rtol must be >= 0")
    if by_values is None:
        disjoint = not set(a.names()) & set(b.names())
        by_values = disjoint and len(a) > 0 and "onnx" in (a.info.kind, b.info.kind)
    if by_values:
        if atol or rtol:
            raise UsageError(
                "--atol/--rtol: across a conversion tensors are paired by exact values (cast, "
                "transposed or flattened); compare the model and the ONNX outputs with verify"
            )
        return _by_values(a, b, DiffReport(a_label, b_label, atol, rtol))
    report = DiffReport(a_label, b_label, atol, rtol)
    names_b = set(b.names())
    report.only_a = [n for n in a.names() if n not in names_b]
    report.only_b = [n for n in b.names() if n not in a]
    for tensor in a:
        if tensor.name in names_b:
            report.tensors.append(_compare(tensor, b[tensor.name], atol, rtol))
    return report


def _by_values(a: WeightSet, b: WeightSet, report: DiffReport) -> DiffReport:
    from exporter.convert.weights import match_arrays

    swap = a.info.kind == "onnx" and b.info.kind != "onnx"
    source, onnx = (b, a) if swap else (a, b)
    params = {t.name: t.read() for t in onnx}
    rows = match_arrays(source, params)["tensors"]
    report.paired, used = [], set()
    missing = []
    for row in rows:
        if row["onnx"] is None:
            missing.append(row["name"])
            continue
        used.add(row["onnx"])
        pair = {"a": row["name"], "b": row["onnx"], "how": row["match"]}
        if swap:
            pair = {"a": row["onnx"], "b": row["name"], "how": row["match"]}
        report.paired.append(pair)
    if swap:
        report.only_b = missing
    else:
        report.only_a = missing
    report.extra = [name for name in params if name not in used]
    return report
