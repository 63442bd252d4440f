"""Decision trees, forests, gradient boosting and HistGradientBoosting: every index their
compiled prediction code follows."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.models.sklearn.checks.base import Bad, fail, ints, is_sklearn


def check_tree(tree: Any, width: int | None) -> None:
    """sklearn.tree._tree.Tree: node count, children, features and depth."""
    n, capacity = int(tree.node_count), int(tree.capacity)
    if not 1 <= n <= capacity:
        fail(f"tree_.node_count {n} is outside [1, {capacity}] (the nodes stored)")
    nodes = tree.__getstate__()["nodes"]  # node_count records, now known to be stored
    left, right = ints(nodes["left_child"]), ints(nodes["right_child"])
    leaf = left == -1
    if (right[leaf] != -1).any():
        fail("tree_.children_right is not -1 at a leaf (children_left -1)")
    index = np.flatnonzero(~leaf)
    lefts, rights = left[index], right[index]
    if ((lefts <= index) | (lefts >= n) | (rights <= index) | (rights >= n)).any():
        fail(
            f"tree_.children_left/right hold an index outside (node, {n}) (out of range or a cycle)"
        )
    children = np.concatenate([lefts, rights])
    if children.size != n - 1 or (np.bincount(children, minlength=n)[1:] != 1).any():
        fail("tree_.children_left/right do not make each node the child of exactly one node")
    limit = int(tree.n_features) if width is None else min(int(tree.n_features), int(width))
    features = ints(nodes["feature"])[index]
    if ((features < 0) | (features >= limit)).any():
        fail(f"tree_.feature holds an index outside [0, {limit}) (the features)")
    depth = _depth(n, index, lefts, rights)
    if depth > int(tree.max_depth):
        fail(f"tree_.max_depth {int(tree.max_depth)} is below the tree's depth {depth}")


def _depth(n: int, parents: np.ndarray, lefts: np.ndarray, rights: np.ndarray) -> int:
    """The depth of a tree given as parent -> children (pointer jumping: log2(depth) rounds)."""
    up = np.full(n, -1, dtype=np.int64)
    up[lefts], up[rights] = parents, parents
    depth = (up >= 0).astype(np.int64)
    active = np.flatnonzero(up >= 0)
    while active.size:
        depth[active] += depth[up[active]]
        up[active] = up[up[active]]
        active = active[up[active] >= 0]
    return int(depth.max())


def check_ensemble(est: Any, width: int | None) -> None:
    """Members of an ensemble read the columns the ensemble validated (forests and gradient
    boosting skip the members' own check), or their feature subset (bagging)."""
    fitted = getattr(est, "estimators_", None)
    if fitted is None:
        return
    cells = fitted.ravel() if isinstance(fitted, np.ndarray) else list(fitted)
    members = [m for m in cells if is_sklearn(m)]
    subsets = getattr(est, "estimators_features_", None)
    if subsets is not None and len(subsets) != len(members):
        fail(f"has {len(subsets)} estimators_features_ for {len(members)} estimators_")
    for i, member in enumerate(members):
        own = getattr(member, "n_features_in_", None)
        expected = width if subsets is None else len(subsets[i])
        if own is not None and expected is not None and int(own) != int(expected):
            fail(f"estimators_[{i}] reads {int(own)} features, the ensemble gives it {expected}")
        if subsets is not None and width is not None:
            cols = ints(subsets[i])
            if cols.size and (cols.min() < 0 or cols.max() >= width):
                fail(f"estimators_features_[{i}] holds a column outside [0, {width})")


def check_gradient_boosting(est: Any, width: int | None) -> None:
    """predict_stages writes column k of the raw predictions for estimators_[:, k]."""
    check_ensemble(est, width)
    if not hasattr(est, "estimators_"):
        return  # not fitted
    stages = est.estimators_
    if not isinstance(stages, np.ndarray) or stages.ndim != 2:
        fail("estimators_ is not a 2-D array of trees")
    k = stages.shape[1]
    if k != int(est.n_trees_per_iteration_):
        fail(f"estimators_ has {k} columns, n_trees_per_iteration_ is {est.n_trees_per_iteration_}")
    init = est.init_
    if k > 1 and init != "zero":
        classes = getattr(init, "classes_", None)
        if classes is None or len(classes) != k or not est._loss.is_multiclass:
            fail(f"init_ predicts fewer than the {k} columns estimators_ writes")


# ---------------------------------------------------------------- HistGradientBoosting


def check_hist_gradient_boosting(est: Any, width: int | None) -> None:
    """The bin mapper, the categorical preprocessor and every TreePredictor of one model."""
    if not hasattr(est, "_predictors"):
        return  # not fitted
    n = int(est.n_features_in_)
    categorical = _check_bin_mapper(est._bin_mapper, n)
    _check_preprocessor(getattr(est, "_preprocessor", None), n)
    per_iteration = int(est.n_trees_per_iteration_)
    for i, predictors in enumerate(est._predictors):
        if len(predictors) != per_iteration:
            fail(f"_predictors[{i}] holds {len(predictors)} trees, not {per_iteration}")
        for k, predictor in enumerate(predictors):
            try:
                _check_predictor(predictor, n, categorical)
            except Bad as exc:
                raise Bad(f"_predictors[{i}][{k}]: {exc}") from None


def _check_predictor(predictor: Any, n_features: int, categorical: np.ndarray) -> None:
    """TreePredictor.nodes: children after their node, features and bitset rows in range."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        fail("nodes is not an array of TreePredictor records")
    if nodes.ndim != 1 or nodes.size == 0:
        fail(f"nodes has shape {nodes.shape}, not (n_nodes,)")
    n = nodes.size
    index = np.flatnonzero(nodes["is_leaf"] == 0)
    inner = nodes[index]
    lefts, rights = ints(inner["left"]), ints(inner["right"])
    if ((lefts <= index) | (lefts >= n) | (rights <= index) | (rights >= n)).any():
        fail(f"nodes left/right hold an index outside (node, {n}) (out of range or a cycle)")
    features = ints(inner["feature_idx"])
    if ((features < 0) | (features >= n_features)).any():
        fail(f"nodes feature_idx holds an index outside [0, {n_features})")
    split = inner["is_categorical"] != 0
    if not split.any():
        return
    if not categorical[features[split]].all():
        fail("nodes split a feature as categorical that the bin mapper has as numeric")
    rows = min(_bitset_rows(predictor.raw_left_cat_bitsets, "raw_left_cat_bitsets"),
               _bitset_rows(predictor.binned_left_cat_bitsets, "binned_left_cat_bitsets"))  # fmt: skip
    if (ints(inner["bitset_idx"][split]) >= rows).any():
        fail(f"nodes bitset_idx holds an index outside [0, {rows}) (the bitsets)")


def _bitset_rows(bitsets: Any, name: str) -> int:
    if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
        fail(f"{name} is not an (n, 8) array of bitsets")
    if bitsets.dtype != np.uint32 or not bitsets.flags.c_contiguous:
        fail(f"{name} is not a C-contiguous uint32 array")
    return bitsets.shape[0]


def _check_bin_mapper(mapper: Any, n_features: int) -> np.ndarray:
    """_BinMapper: one threshold array per feature, below n_bins bins, categories in [0, 255).
    Returns is_categorical_ as booleans."""
    categorical = np.asarray(mapper.is_categorical_)
    thresholds, n_bins = mapper.bin_thresholds_, int(mapper.n_bins)
    sizes = (len(thresholds), categorical.size, np.asarray(mapper.n_bins_non_missing_).size)
    if sizes != (n_features,) * 3:
        fail(f"_bin_mapper describes {sizes} features, the model reads {n_features}")
    if not 3 <= n_bins <= 256 or int(mapper.missing_values_bin_idx_) != n_bins - 1:
        fail(f"_bin_mapper n_bins {n_bins} / missing_values_bin_idx_ are out of range")
    if (ints(mapper.n_bins_non_missing_) > n_bins - 1).any():
        fail(f"_bin_mapper n_bins_non_missing_ exceeds {n_bins - 1}")
    for f, values in enumerate(thresholds):
        values = np.asarray(values)
        if values.ndim != 1 or values.size > n_bins - 1:
            fail(f"_bin_mapper bin_thresholds_[{f}] has more than {n_bins - 1} thresholds")
        bad = categorical[f] and ((values < 0) | (values >= 255) | (values % 1 != 0)).any()
        if bad:
            fail(f"_bin_mapper bin_thresholds_[{f}] holds a category outside [0, 255)")
    return categorical.astype(bool)


def _check_preprocessor(preprocessor: Any, n_features: int) -> None:
    """HistGradientBoosting's own ColumnTransformer: ordinal-encoded categorical columns and
    the numeric ones passed through, n_features columns in all (the predictors index them)."""
    if preprocessor is None:
        return
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    total = 0
    for name, transformer, columns in preprocessor.transformers_:
        count = _column_count(columns, n_features)
        if transformer == "drop":
            continue
        if isinstance(transformer, OrdinalEncoder):
            if len(transformer.categories_) != count:
                fail(
                    f"_preprocessor step {name!r} encodes {len(transformer.categories_)} columns, not {count}"
                )
        elif not (isinstance(transformer, FunctionTransformer) or transformer == "passthrough"):
            fail(f"_preprocessor step {name!r} is a {type(transformer).__name__}")
        elif isinstance(transformer, FunctionTransformer) and transformer.func is not None:
            func = getattr(transformer.func, "func", None)
            if getattr(func, "__name__", None) != "check_array":
                fail(f"_preprocessor step {name!r} is a function other than check_array")
        total += count
    if total != n_features:
        fail(f"_preprocessor gives {total} columns, the predictors read {n_features}")


def _column_count(columns: Any, n_features: int) -> int:
    selected = np.asarray(columns)
    if selected.dtype == bool:
        if selected.shape != (n_features,):
            fail(f"_preprocessor selects columns with a mask of shape {selected.shape}")
        return int(selected.sum())
    return int(np.asarray(np.arange(n_features)[selected]).size)
