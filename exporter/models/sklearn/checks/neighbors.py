"""KD and ball trees, distance metrics and metric parameters, sized for the data they measure."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.models.sklearn.checks.base import fail, ints


def check_metric_params(est: Any, width: int | None) -> None:
    """metric_params / effective_metric_params_: VI (d, d), V (d,) or (d, d), w (d,) for the
    d columns the estimator's data has (Mahalanobis' compiled code reads VI by d)."""
    d = _data_width(est)
    for name in ("metric_params", "effective_metric_params_"):
        params = vars(est).get(name)
        if not isinstance(params, dict) or d is None:
            continue
        for key, shapes in (("VI", [(d, d)]), ("V", [(d,), (d, d)]), ("w", [(d,)])):
            value = params.get(key)
            if value is not None and np.shape(value) not in shapes:
                fail(f"has {name}[{key!r}] of shape {np.shape(value)} for {d} features")


def _data_width(est: Any) -> int | None:
    """The number of columns of a neighbors model's stored data (else n_features_in_)."""
    data = vars(est).get("_fit_X")
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return int(data.shape[1])
    own = vars(est).get("n_features_in_")
    return int(own) if isinstance(own, (int, np.integer)) else None


def check_distance_metric(metric: Any, width: int | None) -> None:
    """A DistanceMetric's parameters sized for the d columns it measures: Mahalanobis mat
    (d, d), SEuclidean vec (d,), Minkowski w empty or (d,), haversine 2 columns; never a
    Python function (PyFuncDistance calls it with kwargs from the file)."""
    kind = type(metric).__name__.rstrip("0123456789")
    name = type(metric).__name__
    if kind == "PyFuncDistance":
        fail(f"metric {name} calls a function from the file with arguments from the file")
    if width is None:
        return
    state = metric.__getstate__()
    vec, mat = np.asarray(state[1]), np.asarray(state[2])
    wrong = {
        "MahalanobisDistance": mat.shape != (width, width),
        "SEuclideanDistance": vec.shape != (width,),
        "MinkowskiDistance": vec.size not in (0, width) or vec.ndim != 1,
        "HaversineDistance": width != 2,
    }.get(kind, False)
    if wrong:
        fail(f"metric {name} has parameters of shape {vec.shape}/{mat.shape} for {width} columns")


def check_binary_tree(tree: Any, width: int | None) -> None:
    """KDTree/BallTree: idx_array a permutation of the data rows, node ranges inside it,
    children (2i+1, 2i+2) of internal nodes present, node_bounds (k, n_nodes, n_features)."""
    state = tree.__getstate__()
    data, idx, node_data, bounds = (np.asarray(a) for a in state[:4])
    n_nodes = int(state[6])
    if data.ndim != 2 or idx.shape != (data.shape[0],):
        fail(f"idx_array has shape {idx.shape} for {data.shape} data")
    n = data.shape[0]
    if n and (np.bincount(np.clip(ints(idx), 0, n), minlength=n + 1)[:n] != 1).any():
        fail(f"idx_array is not a permutation of the {n} data rows")
    if (
        node_data.shape != (n_nodes,)
        or bounds.ndim != 3
        or bounds.shape[1:] != (n_nodes, data.shape[1])
    ):
        fail(
            f"node_data {node_data.shape} / node_bounds {bounds.shape} do not match n_nodes {n_nodes}"
        )
    start, end = ints(node_data["idx_start"]), ints(node_data["idx_end"])
    if ((start < 0) | (start > end) | (end > n)).any():
        fail(f"node_data holds an index range outside [0, {n}]")
    internal = np.flatnonzero(node_data["is_leaf"] == 0)
    if internal.size and 2 * int(internal.max()) + 2 >= n_nodes:
        fail(f"node_data marks a node internal whose children are beyond n_nodes {n_nodes}")
    check_distance_metric(state[11], data.shape[1])
    weights = state[12]
    if weights is not None and np.asarray(weights).shape != (n,):
        fail(f"sample_weight has shape {np.asarray(weights).shape}, not ({n},)")
