"""Which source weights appear unchanged in an ONNX graph.

The ONNX parameters are the ones the ONNX reader finds (models/onnx/walk.py), under the names
`inspect` shows: initializers and Constant outputs as they are, node-attribute parameters of
ai.onnx.ml nodes (where skl2onnx puts most scikit-learn parameters) as
`<node name or op_type>/<attribute>`, subgraph tensors prefixed by their node and branch.
A source tensor is found when some ONNX parameter holds the same values:
- "exact": same values, same dtype (shapes may differ by size-1 dimensions);
- "cast": same values after casting to the ONNX dtype (float64 -> float32 counts as found);
- "transposed": the same after permuting axes (Conv kernels HWIO -> OIHW);
- "flattened": a 1-D ONNX list with the source's values in C or transposed order.
Anything else is "not found": folded (BatchNorm into Conv), rewritten or recomputed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import numpy as np

from exporter.core.errors import InputError
from exporter.core.weightset import WeightSet

MAX_PERMUTED_RANK = 5


def onnx_parameters(model: Any) -> dict[str, np.ndarray]:
    """Every parameter of an in-memory ModelProto (its external data already inline), read by
    the ONNX reader's own walk; InputError when the reader refuses the model."""
    from exporter.models.onnx.graph import weightset_from_onnx

    return {tensor.name: tensor.read() for tensor in weightset_from_onnx(model)}


def _fingerprint(array: np.ndarray) -> tuple[Any, ...] | None:
    """Invariant under permutation, flattening and float64 -> float32 rounding."""
    if array.dtype.kind not in "biuf" or array.size == 0:
        return None
    if array.dtype.kind == "f":
        values = array.astype(np.float32)
        if np.isnan(values).all():
            return (array.size, "nan")
        return (array.size, float(np.nanmin(values)), float(np.nanmax(values)))
    return (array.size, int(array.min()), int(array.max()))


def _same(a: np.ndarray, b: np.ndarray) -> str | None:
    if a.dtype == b.dtype:
        return "exact" if np.array_equal(a, b, equal_nan=a.dtype.kind == "f") else None
    kinds = {a.dtype.kind, b.dtype.kind}
    if (kinds <= {"f"} or kinds <= {"i", "u", "b"}) and np.array_equal(
        a.astype(b.dtype), b, equal_nan=b.dtype.kind == "f"
    ):
        return "cast"
    return None


def _match(source: np.ndarray, candidate: np.ndarray) -> str | None:
    a = source.reshape([d for d in source.shape if d != 1])
    b = candidate.reshape([d for d in candidate.shape if d != 1])
    if a.shape == b.shape:
        how = _same(a, b)
        if how:
            return how
    if sorted(a.shape) == sorted(b.shape) and 1 < a.ndim <= MAX_PERMUTED_RANK:
        for axes in itertools.permutations(range(a.ndim)):
            shape = tuple(a.shape[i] for i in axes)
            if shape == b.shape and axes != tuple(range(a.ndim)) and _same(a.transpose(axes), b):
                return "transposed"
    flat = b.ndim == 1 and a.ndim > 1
    if flat and (_same(a.reshape(-1), b) or (a.ndim == 2 and _same(a.T.reshape(-1), b))):
        return "flattened"
    return None


def match_weights(ws: WeightSet, model: Any, notes: list[str]) -> dict[str, Any]:
    """Per source tensor: the ONNX parameter holding its values and how, or None. When the ONNX
    reader refuses the model (a dtype exporter cannot read, say), nothing is matched and notes
    says why: the numerical check stands on its own."""
    try:
        params = onnx_parameters(model)
    except InputError as exc:
        notes.append(f"source weights not matched: the ONNX reader cannot read the model ({exc})")
        params = {}
    return match_arrays(ws, params)


def match_arrays(ws: WeightSet, params: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per tensor of ws: the array of params holding its values and how (see the module
    docstring), or None; the conversion report and `diff` across a conversion share it."""
    index: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for name, array in params.items():
        key = _fingerprint(array)
        if key is not None:
            index[key].append(name)
    rows, found, used = [], 0, set()
    for tensor in ws:
        array = tensor.read()
        row = {"name": tensor.name, "shape": list(tensor.shape), "dtype": tensor.dtype_name}
        row["onnx"], row["match"] = None, None
        for candidate in index.get(_fingerprint(array) or (), []):
            if candidate in used:
                continue  # one parameter holds one source tensor: two equal biases need two
            how = _match(array, params[candidate])
            if how:
                row["onnx"], row["match"] = candidate, how
                used.add(candidate)
                found += 1
                break
        rows.append(row)
    return {"found": found, "total": len(rows), "onnx_parameters": len(params), "tensors": rows}
