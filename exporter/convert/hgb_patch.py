"""A fix for skl2onnx 1.20 on HistGradientBoosting* with protobuf 7 (FORMATS.md).

skl2onnx's `tree_ensemble.add_node` passes `missing_go_to_left` (numpy uint8 for splits, a Python
bool False for leaves) through to the `nodes_missing_value_tracks_true` attribute, which protobuf 7 refuses ("Field
onnx.AttributeProto.ints: Expected an int, got a boolean"). While we convert, `add_node` is
wrapped to turn that value into a Python int. The wrapper is installed only when converting a
tiny HistGradientBoostingRegressor shows the bug (so it goes away by itself once skl2onnx is fixed) and only for the duration of our
conversion call. To drop it: delete this module and its use in sklearn_onnx.py.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import numpy as np


@functools.cache
def needed() -> bool:
    """True when skl2onnx still fails on a tiny HistGradientBoostingRegressor with the bool error."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = np.arange(16, dtype=np.float64).reshape(8, 2)
    tiny = HistGradientBoostingRegressor(max_iter=1, min_samples_leaf=2).fit(X, X[:, 0])
    try:
        convert_sklearn(tiny, initial_types=[("input", FloatTensorType([None, 2]))])
    except Exception as exc:  # skl2onnx wraps protobuf's TypeError in a ValueError
        while exc is not None:
            if isinstance(exc, TypeError) and "got a boolean" in str(exc):
                return True
            exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def hgb_missing_tracks_fix() -> Iterator[None]:
    """Within the block, add_node records nodes_missing_value_tracks_true as a Python int."""
    from skl2onnx.common import tree_ensemble

    if not needed():
        yield
        return
    original = tree_ensemble.add_node

    @functools.wraps(original)
    def add_node(*args: Any, **kwargs: Any) -> Any:
        if "nodes_missing_value_tracks_true" in kwargs:
            kwargs["nodes_missing_value_tracks_true"] = int(
                kwargs["nodes_missing_value_tracks_true"]
            )
        return original(*args, **kwargs)

    tree_ensemble.add_node = add_node
    try:
        yield
    finally:
        tree_ensemble.add_node = original
