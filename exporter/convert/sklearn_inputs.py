"""What a fitted scikit-learn estimator takes as input, and check inputs drawn from its domain.

The input, from the step that first sees the data: text vectorizers take strings (one string per
row), label transformers take labels (1-D int64 or strings), IsotonicRegression one float per row,
everything else a float matrix of n_features_in_ columns.

Check inputs (numeric models) come from what the fitted model records about its input space,
per input column: split thresholds of trees (sklearn and HistGradientBoosting bin thresholds),
KBinsDiscretizer bin edges and QuantileTransformer quantiles - each value exactly, with its float32
neighbours on both sides - encoder categories (exactly), the Binarizer threshold, the fitted range
of scalers. Every value of every column appears at least once (up to MAX_ROWS rows), mixed across
columns at random. Models that keep their training samples (nearest neighbours) are checked on
those samples. Rows of the generic draw (normal around the scaler statistics, else standard normal)
are added so no model is checked on fewer than MIN_ROWS rows. Models that take positive values only
(scikit-learn's `positive_only` tag) get absolute values. A linear binary decision (coef_ on the
input, e.g. inside TunedThresholdClassifierCV) adds rows spread across its decision range.

The values are drawn in float64, as a user's data is. onnxruntime gets them cast to the ONNX
input's dtype and scikit-learn gets the float64 values themselves (CheckRows.exact), so the
check sees what a user sees when float32 rounding moves a value across a split point, bin edge
or quantile (HistGradientBoosting, KBinsDiscretizer, QuantileTransformer); with --double both
sides get the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.core.errors import UnsupportedError

MIN_ROWS = 256
MAX_ROWS = 4096


class CheckRows(np.ndarray):
    """Check inputs in the ONNX input's dtype that remember the float64 values they were cast
    from (`exact`), which the source model is run on."""

    exact: np.ndarray | None = None


def check_rows(exact: np.ndarray, dtype: Any) -> np.ndarray:
    """exact cast to dtype, remembering exact (see CheckRows)."""
    rows = np.asarray(exact).astype(dtype).view(CheckRows)
    rows.exact = np.asarray(exact, dtype=np.float64)
    return rows


def exact_values(array: np.ndarray) -> np.ndarray:
    """The float64 values check rows were cast from (the array itself for other inputs)."""
    exact = getattr(array, "exact", None)
    if exact is not None and exact.shape == array.shape:
        return exact
    return np.asarray(array)


@dataclass(frozen=True)
class InputKind:
    """The one input of a converted estimator: kind is numeric, text, labels or one_d."""

    kind: str
    width: int | None  # columns of a numeric input; None for 1-D inputs
    dtype: str = "float"  # float, int64 or string (what skl2onnx's tensor type holds)


def first_step(est: Any) -> Any:
    """The estimator that sees the raw input (the first step of nested Pipelines)."""
    while hasattr(est, "steps"):
        est = est.steps[0][1]
    return est


def input_kind(est: Any) -> InputKind:
    """The input est takes, from its first step (see the module docstring)."""
    first = first_step(est)
    if hasattr(first, "vocabulary_") and hasattr(first, "build_analyzer"):
        return InputKind("text", None, "string")
    if type(first).__name__ in ("LabelEncoder", "LabelBinarizer"):
        kind = np.asarray(first.classes_).dtype.kind
        if kind not in "iuUSO":
            raise UnsupportedError(
                f"{type(first).__name__} with {np.asarray(first.classes_).dtype} labels: "
                "skl2onnx converts integer or string labels only"
            )
        return InputKind("labels", None, "string" if kind in "USO" else "int64")
    if type(first).__name__ == "IsotonicRegression":
        return InputKind("one_d", None)
    count = getattr(est, "n_features_in_", None) or getattr(first, "n_features_in_", None)
    if count is None:
        raise UnsupportedError(
            f"{type(first).__name__} does not take a numeric matrix (no n_features_in_): "
            "exporter converts estimators whose input is numbers, text or labels"
        )
    return InputKind("numeric", int(count))


def domain_inputs(est: Any, kind: InputKind, dtype: Any, rng: np.random.Generator, samples: int):
    """Check inputs for est (an array of the ONNX input's dtype) drawn from its own domain."""
    if kind.kind == "text":
        return _text_rows(first_step(est), rng, max(samples, MIN_ROWS))
    if kind.kind == "labels":
        classes = np.asarray(first_step(est).classes_)
        rows = np.concatenate([classes, rng.choice(classes, max(samples, MIN_ROWS))])
        return rows.astype(str) if kind.dtype == "string" else rows.astype(np.int64)
    if kind.kind == "one_d":
        return check_rows(_float_pool(_isotonic_values(first_step(est)), rng, samples), dtype)
    rows = _numeric_rows(est, kind.width or 0, rng, samples)
    if _positive_only(est):
        rows = np.abs(rows)
    return check_rows(rows, dtype)


def _text_rows(vectorizer: Any, rng: np.random.Generator, count: int) -> np.ndarray:
    """Sentences of the vocabulary's words (n-grams split back into words), every word used."""
    words = sorted({w for term in vectorizer.vocabulary_ for w in str(term).split()})
    if not words:
        return np.array(["" for _ in range(count)])
    order = np.concatenate([rng.permutation(words) for _ in range(1 + 6 * count // len(words))])
    rows = [" ".join(order[i * 6 : i * 6 + rng.integers(1, 7)]) for i in range(count)]
    return np.array(rows)


def _isotonic_values(model: Any) -> list[np.ndarray]:
    points = np.asarray(getattr(model, "X_thresholds_", [model.X_min_, model.X_max_]), float)
    span = max(float(model.X_max_ - model.X_min_), 1.0)
    return [points, np.array([model.X_min_ - span, model.X_max_ + span])]


def _float_pool(values: list[np.ndarray], rng: np.random.Generator, samples: int) -> np.ndarray:
    """One column: every value with its float32 neighbours, shuffled, plus uniform draws."""
    pool = _with_neighbours(np.concatenate(values))
    low, high = float(pool.min()), float(pool.max())
    extra = rng.uniform(low, high, max(samples, MIN_ROWS - len(pool), 0))
    return rng.permutation(np.concatenate([pool, extra]))


def _with_neighbours(values: np.ndarray) -> np.ndarray:
    """Each value exactly (float64), its float32 rounding and the float32 values just below
    and above that (as float64)."""
    exact = np.unique(np.asarray(values, np.float64)[np.isfinite(values)])
    single = exact.astype(np.float32)
    near = [
        single,
        np.nextafter(single, np.float32(np.inf)),
        np.nextafter(single, np.float32(-np.inf)),
    ]
    return np.unique(np.concatenate([exact, *[n.astype(np.float64) for n in near]]))


def _positive_only(est: Any) -> bool:
    from sklearn.utils import get_tags

    try:
        return any(get_tags(part).input_tags.positive_only for part in _chain(est))
    except Exception:  # estimators without tags (old third-party ones)
        return False


def _chain(est: Any) -> list[Any]:
    found = [est]
    while hasattr(found[-1], "steps"):
        found.append(found[-1].steps[0][1])
    return found


def _numeric_rows(est: Any, width: int, rng: np.random.Generator, samples: int) -> np.ndarray:
    """Rows for a numeric model: the training samples it keeps, else its columns' values mixed,
    plus generic rows."""
    from exporter.convert.sklearn_domain import boundary_rows, column_values, kept_samples

    kept = kept_samples(est, width)
    if kept is not None:
        return kept
    pools, closed = column_values(est, width)
    generic = _generic_rows(est, width, rng, max(samples, MIN_ROWS))
    generic = np.concatenate([generic, boundary_rows(est, generic, rng)])
    for j in closed:  # only these values are valid (categories): no generic draws
        generic[:, j] = rng.choice(np.concatenate(pools[j]), len(generic))
    if not any(pools):
        return generic
    count = min(max(sum(len(values) for values in pool) for pool in pools), MAX_ROWS)
    columns = [_column(pool, generic[:, j], rng, count) for j, pool in enumerate(pools)]
    return np.concatenate([np.stack(columns, axis=1), generic])


def _column(pool: list[np.ndarray], fallback: np.ndarray, rng, count: int) -> np.ndarray:
    """count values of one column: its pool (each value at least once while it fits), else
    draws from the generic column."""
    if not pool:
        return rng.choice(fallback, count)
    values = np.concatenate(pool)
    if len(values) >= count:
        return rng.choice(values, count, replace=False)
    return rng.permutation(np.concatenate([values, rng.choice(values, count - len(values))]))


def _generic_rows(est: Any, width: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Normal around the first step's mean/scale (StandardScaler), uniform over a MinMaxScaler's
    range, else standard normal."""
    first = first_step(est)
    if getattr(first, "scale_", None) is not None and hasattr(first, "mean_"):
        return rng.normal(first.mean_, first.scale_, (count, width))
    if hasattr(first, "data_min_"):
        return rng.uniform(first.data_min_, first.data_max_, (count, width))
    return rng.normal(0.0, 1.0, (count, width))
