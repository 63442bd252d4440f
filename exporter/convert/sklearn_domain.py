"""The values a fitted scikit-learn model records about its input space, per input column.

The model is walked from the outside in, carrying which input columns each part sees: a Pipeline's
first step sees all of them; a ColumnTransformer part its own columns; a FeatureUnion part all;
members of ensembles and meta-estimators (forests, boosting, bagging with its feature subsets,
voting/stacking members, one-vs-rest/one, multi-output, calibration, grid search, RFE with its
support) the columns they were fitted on. Later pipeline steps and stacking's final estimator see
transformed data, not input columns, and are not walked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from exporter.convert.sklearn_inputs import _with_neighbours

MAX_DEPTH = 8


def _members(est: Any) -> Iterator[tuple[Any, np.ndarray | None]]:
    """(fitted member, its columns within est's columns or None for all) of est."""
    features = getattr(est, "estimators_features_", None)
    members = getattr(est, "estimators_", None)
    if members is not None and not isinstance(members, dict):
        flat = (
            list(np.asarray(members, dtype=object).ravel()) if _is_array(members) else list(members)
        )
        for k, member in enumerate(flat):
            yield member, (np.asarray(features[k]) if features is not None else None)
    support = getattr(est, "support_", None)
    for name in ("estimator_", "best_estimator_"):
        member = getattr(est, name, None)
        if member is not None and hasattr(member, "get_params"):
            chosen = (
                np.flatnonzero(support) if support is not None and name == "estimator_" else None
            )
            yield member, chosen
    for calibrated in getattr(est, "calibrated_classifiers_", []):
        yield calibrated.estimator, None


def _is_array(members: Any) -> bool:
    return isinstance(members, np.ndarray)


def consumers(est: Any, columns: np.ndarray, depth: int = 0) -> Iterator[tuple[Any, np.ndarray]]:
    """(part, the input columns it sees) for est and every part that sees input columns."""
    yield est, columns
    if depth >= MAX_DEPTH:
        return
    if hasattr(est, "steps"):
        yield from consumers(est.steps[0][1], columns, depth + 1)
        return
    for _, part, selected in getattr(est, "transformers_", []):
        if hasattr(part, "get_params"):
            index = np.arange(len(columns))[_selection(selected, len(columns))]
            yield from consumers(part, columns[index], depth + 1)
    for _, part in getattr(est, "transformer_list", []):
        if hasattr(part, "get_params"):
            yield from consumers(part, columns, depth + 1)
    for member, chosen in _members(est):
        if hasattr(member, "get_params"):
            seen = columns if chosen is None else columns[chosen]
            yield from consumers(member, seen, depth + 1)


def all_parts(est: Any, depth: int = 0) -> Iterator[Any]:
    """est and every fitted part inside it (all pipeline steps, members, column parts)."""
    yield est
    if depth >= MAX_DEPTH:
        return
    inner = [step for _, step in getattr(est, "steps", [])]
    inner += [part for _, part, _ in getattr(est, "transformers_", [])]
    inner += [part for _, part in getattr(est, "transformer_list", [])]
    inner += [member for member, _ in _members(est)]
    final = getattr(est, "final_estimator_", None)
    for part in [*inner, *([final] if final is not None else [])]:
        if hasattr(part, "get_params"):
            yield from all_parts(part, depth + 1)


def _selection(selected: Any, width: int) -> Any:
    if isinstance(selected, slice):
        return selected
    array = np.asarray(selected)
    if array.dtype == bool:
        return array
    return array.astype(int) if array.size else np.array([], dtype=int)


CLOSED = ("categories_", "category_count_")  # parts that accept their recorded values only


def column_values(est: Any, width: int) -> tuple[list[list[np.ndarray]], set[int]]:
    """Per input column, the arrays of values the model's parts record for it; and the columns
    whose values are categories (no other value is valid there)."""
    pools: list[list[np.ndarray]] = [[] for _ in range(width)]
    closed: set[int] = set()
    for part, columns in consumers(est, np.arange(width)):
        for local, values in _part_values(part, len(columns)):
            if 0 <= local < len(columns) and len(values):
                pools[int(columns[local])].append(values)
                if any(hasattr(part, name) for name in CLOSED):
                    closed.add(int(columns[local]))
    return pools, closed


def _part_values(part: Any, width: int) -> Iterator[tuple[int, np.ndarray]]:
    """(column within the part, values) recorded by one fitted part."""
    tree = getattr(part, "tree_", None)
    if tree is not None and hasattr(tree, "feature"):
        split = tree.feature >= 0
        for k in np.unique(tree.feature[split]):
            yield int(k), _with_neighbours(tree.threshold[split & (tree.feature == k)])
    mapper = getattr(part, "_bin_mapper", None)  # HistGradientBoosting
    for k, edges in enumerate(getattr(mapper, "bin_thresholds_", []) or []):
        yield k, _with_neighbours(np.asarray(edges))
    yield from _transformer_values(part, width)


def _transformer_values(part: Any, width: int) -> Iterator[tuple[int, np.ndarray]]:
    for k, edges in enumerate(getattr(part, "bin_edges_", [])):  # KBinsDiscretizer
        edges = np.asarray(edges, float)
        yield k, np.concatenate([_with_neighbours(edges), (edges[1:] + edges[:-1]) / 2])
    quantiles = getattr(part, "quantiles_", None)  # QuantileTransformer
    if quantiles is not None:
        for k in range(quantiles.shape[1]):
            q = quantiles[:, k]
            outside = [q[0] - abs(q[0]) - 1, q[-1] + abs(q[-1]) + 1]
            yield k, np.concatenate([_with_neighbours(q), (q[1:] + q[:-1]) / 2, outside])
    for k, categories in enumerate(getattr(part, "categories_", [])):  # encoders: exactly
        values = np.asarray(categories)
        if values.dtype.kind in "iuf":
            yield k, values[np.isfinite(values)].astype(float)
    for k, counts in enumerate(getattr(part, "category_count_", [])):  # CategoricalNB
        yield k, np.arange(np.asarray(counts).shape[-1], dtype=float)
    if type(part).__name__ == "Binarizer":
        for k in range(width):
            yield k, _with_neighbours(np.array([part.threshold]))


def kept_samples(est: Any, width: int) -> np.ndarray | None:
    """The training samples of a nearest-neighbour model that sees the raw input columns in
    order (the model's domain is its samples; mixed values would tie distances)."""
    for part, columns in consumers(est, np.arange(width)):
        samples = getattr(part, "_fit_X", None)
        if samples is None or not isinstance(samples, np.ndarray) or samples.ndim != 2:
            continue
        if np.array_equal(columns, np.arange(width)) and samples.shape[1] == width:
            return samples.astype(float)
    return None


def boundary_rows(est: Any, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows moved along a binary linear decision (coef_ of one row on all input columns) so
    its decision values spread evenly over [-SPREAD, SPREAD]: the region where a decision
    threshold (TunedThresholdClassifierCV's) matters. Empty when est has no such part."""
    width = base.shape[1]
    for part, columns in consumers(est, np.arange(width)):
        coef = np.asarray(getattr(part, "coef_", np.zeros((0, 0))), dtype=float)
        if (
            coef.ndim == 2
            and coef.shape == (1, width)
            and np.array_equal(columns, np.arange(width))
        ):
            w = coef[0]
            norm = float(w @ w)
            if norm > 0:
                bias = float(np.ravel(getattr(part, "intercept_", [0.0]))[0])
                target = rng.uniform(-SPREAD, SPREAD, len(base))
                return base + ((target - base @ w - bias) / norm)[:, None] * w
    return np.zeros((0, width))


SPREAD = 6.0
