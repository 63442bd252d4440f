"""Index checks on the Cython-backed structures of a scikit-learn model loaded from a file.

skops builds trusted scikit-learn classes from the file's arrays, and their `__setstate__`
checks dtypes and shapes only (scikit-learn 1.9.1). The compiled code that predicts with them
reads those arrays without bounds checks, so a crafted file can make `predict` (which `convert`
and `verify` run) read or write outside them, loop forever, or crash. check_structures walks
every object the estimator holds and checks every index against what it indexes, vectorized:

- `sklearn.tree._tree.Tree` (decision trees, forests, gradient boosting, isolation forests):
  1 <= node_count <= capacity; internal nodes' children in (parent, node_count), every node
  but the root the child of exactly one node (so the walk from the root ends), leaves with
  both children -1; features of internal nodes in [0, n_features); max_depth at least the real
  depth (decision_path allocates by it); and an ensemble's trees read as many columns as the
  ensemble validates (forests and gradient boosting predict with check_input=False).
- Gradient boosting: estimators_ is 2-D with one column per raw prediction column.
- HistGradientBoosting `TreePredictor`: record dtype; left/right in (node, n_nodes);
  feature_idx in [0, n_features); categorical splits only on categorical features, with
  bitset_idx below the number of bitset rows (n, 8); and the `_BinMapper` it predicts with
  (thresholds per feature, at most n_bins - 1 bins, categories in [0, 255)).
- KD/ball trees: idx_array a permutation of the data rows, node ranges inside it, children
  (2i+1, 2i+2) of internal nodes present, node_bounds shaped (k, n_nodes, n_features).
- libsvm models (SVC, NuSVC, SVR, NuSVR, OneClassSVM): sum(n_support) = len(support_) =
  support vector rows, dual_coef_ (n_class - 1, n_SV), intercept and probability arrays of
  n_class * (n_class - 1) / 2, support_ rows inside the training kernel for precomputed kernels.
- scipy sparse matrices: scipy's own full format check (indices inside the shape, indptr
  monotonic), which loading skips.
- Distance metrics (a KD/ball tree's, or held by an estimator) and metric_params /
  effective_metric_params_: Mahalanobis VI (d, d), SEuclidean V (d,), Minkowski w (d,),
  haversine on 2 columns, for the d columns of the data they measure.
- scipy BSpline (SplineTransformer), rebuilt without __init__: what __init__ checks (k, knots,
  coefficient rows, axis, extrapolate) and its own numpy asarray.

And one rule, checked on every object: a loaded model never does I/O or calls a function the
file chooses when it predicts. Refused: `input='filename'/'file'` (vectorizers open the files
their input names); any function, partial or class (what skops' FunctionNode, TypeNode and
PartialNode make) reachable from a prediction attribute, except a numpy ufunc as
FunctionTransformer/TransformedTargetRegressor func/inverse_func, a plain numpy function as
FeatureAgglomeration pooling_func and HistGradientBoosting's partial(check_array); callable
objects in parameters scikit-learn calls when predicting (metric, kernel but for a Gaussian-
process kernel, func, analyzer, ...). Attributes only fit or score uses (score_func, scoring,
refit, optimizer, cv, callback, BisectingKMeans' _kmeans_single, scorers) keep their functions.
Each object is walked once per kind of context and a function at every reference, so a shared
function cannot hide behind a fit-only attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from exporter.core.errors import UnsafeInputError

MAX_OBJECTS = 5_000_000  # objects visited; more is not a model a file should describe
_SCALARS = (str, bytes, int, float, complex, np.generic)


class _Bad(Exception):
    """A structure that fails a check (the field and what is wrong)."""


def check_structures(estimator: Any, where: str) -> None:
    """Refuse (UnsafeInputError, exit 3) an estimator whose compiled structures hold an index
    outside what it indexes, or that would do I/O or call a function with arguments from the
    file when it predicts, naming the file (where), the estimator path and the field.
    Walks pipelines, ensembles, meta-estimators and every attribute they hold."""
    for path, obj, width, context in _walk(estimator, where):
        try:
            _check_policy(obj, context)
        except _Bad as exc:
            raise UnsafeInputError(
                f"{where}: {path or 'the estimator'} {exc}; refused, a loaded model never reads "
                "files or runs a function the file chooses when it predicts (re-save the model "
                "without it)"
            ) from None
        try:
            for check in _checkers(obj):
                check(obj, width)
        except _Bad as exc:
            raise UnsafeInputError(
                f"{where}: {path or 'the estimator'} ({type(obj).__name__}) {exc}; refused, "
                "scikit-learn would read or write outside its arrays when predicting (the file "
                "was damaged or crafted: re-save the model from scikit-learn)"
            ) from None
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise UnsafeInputError(
                f"{where}: {path or 'the estimator'} ({type(obj).__name__}) has inconsistent "
                f"fitted state ({type(exc).__name__}: {exc}); refused (re-save the model)"
            ) from None


# ---------------------------------------------------------------- the walk


class _Context(NamedTuple):
    """Where an object sits: the nearest scikit-learn object holding it, the attribute, whether
    it is that attribute's value itself, and whether only fitting or scoring uses it."""

    owner: Any = None
    attribute: str = ""
    direct: bool = False
    fit_only: bool = False


def _walk(root: Any, where: str) -> Iterator[tuple[str, Any, int | None, _Context]]:
    """(path, object, n_features of the nearest enclosing estimator, context) for every object
    held (scalars aside), without recursion. Each object is walked once per kind of context
    (fit-only or not); a function is yielded at every reference, as where it sits decides."""
    seen: set[tuple[int, bool]] = set()
    stack: list[tuple[str, Any, int | None, _Context]] = [("", root, None, _Context())]
    visits = 0
    while stack:
        path, obj, width, context = stack.pop()
        visits += 1
        if visits > MAX_OBJECTS:
            raise UnsafeInputError(
                f"{where}: the model holds more than {MAX_OBJECTS:,} objects; refused"
            )
        if not _is_code(obj):
            if (id(obj), context.fit_only) in seen:
                continue
            seen.add((id(obj), context.fit_only))
        own = getattr(obj, "n_features_in_", None) if _is_sklearn(obj) else None
        width = own if isinstance(own, (int, np.integer)) else width
        yield path, obj, width, context
        for key, child in _children(obj):
            if child is not None and not isinstance(child, _SCALARS):
                inner = _inner_context(obj, key, context)
                stack.append((f"{path}/{key}" if path else str(key), child, width, inner))


def _inner_context(obj: Any, key: Any, context: _Context) -> _Context:
    """The context of what obj holds under key."""
    if not _is_sklearn(obj):
        return context._replace(direct=False)
    fit_only = context.fit_only or key in FIT_ONLY or isinstance(obj, _scorer_base())
    return _Context(obj, str(key), True, fit_only)


def _is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.startswith("sklearn.")


def _children(obj: Any) -> Iterator[tuple[Any, Any]]:
    """The objects obj holds: container items, object-array cells, scikit-learn attributes."""
    if isinstance(obj, dict):
        return iter(obj.items())
    if isinstance(obj, (list, tuple)):
        return enumerate(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return ((",".join(map(str, i)), v) for i, v in np.ndenumerate(obj))
        return iter(())
    if _is_sklearn(obj) and isinstance(getattr(obj, "__dict__", None), dict):
        return iter(list(vars(obj).items()))
    return iter(())


def _checkers(obj: Any) -> list:
    """The checks for obj: its class's (none when it has nothing compiled code indexes) and,
    for scikit-learn objects with distance-metric parameters, theirs."""
    import scipy.sparse as sp

    found = [_check_sparse] if sp.issparse(obj) else []
    for cls, check in _CHECKS():
        if isinstance(obj, cls):
            found.append(check)
            break
    held = getattr(obj, "__dict__", None) if _is_sklearn(obj) else None
    if isinstance(held, dict) and ("metric_params" in held or "effective_metric_params_" in held):
        found.append(_check_metric_params)
    return found


def _fail(message: str) -> None:
    raise _Bad(message)


def _ints(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64, copy=False)


# ---------------------------------------------------------------- no I/O, no file-chosen calls

# Attributes only fit (or score) uses, never predict/transform: the functions they hold
# (trusted ones: score functions, scorers' metrics, k-means runs) are not called by `verify`.
FIT_ONLY = frozenset({"score_func", "scoring", "refit", "optimizer", "callback", "cv",
                      "_kmeans_single"})  # fmt: skip
# Parameters scikit-learn calls at predict/transform time when they hold a callable.
CALL_PARAMS = ("metric", "effective_metric_", "func", "inverse_func", "kernel", "affinity",
               "analyzer", "preprocessor", "tokenizer", "strip_accents", "importance_getter",
               "feature_names_out", "pooling_func", "dissimilarity")  # fmt: skip
_SCALAR_TYPES = (np.generic, int, float, complex, str, bytes, bool)


def _check_policy(obj: Any, context: _Context) -> None:
    """A model never does I/O or calls a function the file chooses when it predicts."""
    if _is_code(obj):
        if not (context.fit_only or _allowed_code(obj, context)):
            _fail(
                f"holds {_describe(obj)}, which scikit-learn would call with arguments from "
                "the file or the data when predicting"
            )
        return
    if not _is_sklearn(obj) or not isinstance(getattr(obj, "__dict__", None), dict):
        return
    source = vars(obj).get("input")
    if isinstance(source, str) and source in ("filename", "file"):
        _fail(f"has input={source!r}: transform would open and read the files its input names")
    for name in CALL_PARAMS:
        value = vars(obj).get(name)
        if callable(value) and not _is_code(value) and not _callable_data(name, value):
            _fail(f"holds a callable {type(value).__name__} as {name}, which predicting calls")


def _is_code(value: Any) -> bool:
    """What a file can name to be called: functions (Python, builtin, numpy, Cython), ufuncs,
    partials and classes beyond scalar types. Callable objects of scikit-learn or
    scipy.interpolate classes (kernels, scorers, splines, IsotonicRegression's interp1d) are
    walked and checked as objects."""
    if not callable(value):
        return False
    if isinstance(value, type):
        return not (value is object or issubclass(value, _SCALAR_TYPES))
    return not type(value).__module__.startswith(("sklearn.", "scipy.interpolate."))


def _allowed_code(func: Any, context: _Context) -> bool:
    """The functions a predicting model may hold as an attribute's value: a numpy ufunc as
    FunctionTransformer/TransformedTargetRegressor func or inverse_func (pure elementwise math
    that checks its own arguments), a plain numpy function as FeatureAgglomeration's
    pooling_func (called with the data only), HistGradientBoosting's check_array partial."""
    if not context.direct:
        return False
    if context.attribute in ("func", "inverse_func"):
        return isinstance(func, np.ufunc) or _is_check_array(func)
    if context.attribute == "pooling_func":
        module = getattr(func, "__module__", None) or ""
        plain = not isinstance(func, (type, functools.partial))
        return isinstance(func, np.ufunc) or (plain and module.split(".")[0] == "numpy")
    return False


def _is_check_array(func: Any) -> bool:
    """partial(check_array, dtype=..., ensure_all_finite=...) as HistGradientBoosting builds it
    for its numeric columns (validation only, whatever the keyword values)."""
    from sklearn.utils.validation import check_array

    return (
        isinstance(func, functools.partial)
        and func.func is check_array
        and not func.args
        and set(func.keywords) <= {"dtype", "ensure_all_finite", "force_all_finite"}
    )


def _callable_data(name: str, value: Any) -> bool:
    """Callable objects that are data where they sit: Gaussian-process kernels as a kernel."""
    from sklearn.gaussian_process.kernels import Kernel

    return name in ("kernel", "kernel_") and isinstance(value, Kernel)


def _describe(func: Any) -> str:
    if isinstance(func, functools.partial):
        return f"a functools.partial of {_describe(func.func)}"
    name = getattr(func, "__qualname__", None) or type(func).__name__
    return f"the function {getattr(func, '__module__', None) or '?'}.{name}"


def _scorer_base() -> type:
    from sklearn.metrics._scorer import _BaseScorer

    return _BaseScorer


def _bspline_class() -> type:
    from scipy.interpolate import BSpline

    return BSpline


# ---------------------------------------------------------------- distance metrics


def _check_metric_params(est: Any, width: int | None) -> None:
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
                _fail(f"has {name}[{key!r}] of shape {np.shape(value)} for {d} features")


def _data_width(est: Any) -> int | None:
    """The number of columns of a neighbors model's stored data (else n_features_in_)."""
    data = vars(est).get("_fit_X")
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return int(data.shape[1])
    own = vars(est).get("n_features_in_")
    return int(own) if isinstance(own, (int, np.integer)) else None


def _check_distance_metric(metric: Any, width: int | None) -> None:
    """A DistanceMetric's parameters sized for the d columns it measures: Mahalanobis mat
    (d, d), SEuclidean vec (d,), Minkowski w empty or (d,), haversine 2 columns; never a
    Python function (PyFuncDistance calls it with kwargs from the file)."""
    kind = type(metric).__name__.rstrip("0123456789")
    name = type(metric).__name__
    if kind == "PyFuncDistance":
        _fail(f"metric {name} calls a function from the file with arguments from the file")
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
        _fail(f"metric {name} has parameters of shape {vec.shape}/{mat.shape} for {width} columns")


# ---------------------------------------------------------------- splines


def _check_bspline(spline: Any, width: int | None) -> None:
    """scipy BSpline, rebuilt without __init__: what __init__ checks and evaluate_spline
    relies on (k >= 0, t 1-D sorted finite float64 with 2k + 2 knots or more, c float or
    complex with at least len(t) - k - 1 rows), and its own numpy asarray."""
    from scipy._lib.array_api_compat.numpy import asarray

    state = vars(spline)
    t, c, k = state.get("_t"), state.get("_c"), state.get("k")
    if state.get("_asarray", asarray) not in (asarray, np.asarray):
        _fail("holds a function other than numpy's asarray as _asarray")
    if not isinstance(k, (int, np.integer)) or isinstance(k, (bool, np.bool_)) or k < 0:
        _fail(f"has degree k={k!r}, not a non-negative integer")
    if not isinstance(t, np.ndarray) or t.dtype != np.float64 or t.ndim != 1:
        _fail("has knots t that are not a 1-D float64 array")
    n = t.size - int(k) - 1
    if n < int(k) + 1 or not np.isfinite(t).all() or (np.diff(t) < 0).any() or t[n] <= t[k]:
        _fail(f"has {t.size} knots for degree {k}: too few, unsorted, not finite or one interval")
    if not isinstance(c, np.ndarray) or c.dtype not in (np.float64, np.complex128) or c.ndim < 1:
        _fail("has coefficients c that are not a float64 or complex128 array")
    if c.shape[0] < n:
        _fail(f"has {c.shape[0]} coefficient rows for {t.size} knots of degree {k} (needs {n})")
    axis, extrapolate = state.get("axis"), state.get("extrapolate")
    if not isinstance(axis, (int, np.integer)) or not 0 <= axis < c.ndim:
        _fail(f"has axis {axis!r} outside the coefficients' {c.ndim} dimensions")
    if not (isinstance(extrapolate, (bool, np.bool_)) or extrapolate == "periodic"):
        _fail(f"has extrapolate={extrapolate!r}, not a bool or 'periodic'")


# ---------------------------------------------------------------- decision trees


def _check_tree(tree: Any, width: int | None) -> None:
    """sklearn.tree._tree.Tree: node count, children, features and depth."""
    n, capacity = int(tree.node_count), int(tree.capacity)
    if not 1 <= n <= capacity:
        _fail(f"tree_.node_count {n} is outside [1, {capacity}] (the nodes stored)")
    nodes = tree.__getstate__()["nodes"]  # node_count records, now known to be stored
    left, right = _ints(nodes["left_child"]), _ints(nodes["right_child"])
    leaf = left == -1
    if (right[leaf] != -1).any():
        _fail("tree_.children_right is not -1 at a leaf (children_left -1)")
    index = np.flatnonzero(~leaf)
    lefts, rights = left[index], right[index]
    if ((lefts <= index) | (lefts >= n) | (rights <= index) | (rights >= n)).any():
        _fail(
            f"tree_.children_left/right hold an index outside (node, {n}) (out of range or a cycle)"
        )
    children = np.concatenate([lefts, rights])
    if children.size != n - 1 or (np.bincount(children, minlength=n)[1:] != 1).any():
        _fail("tree_.children_left/right do not make each node the child of exactly one node")
    limit = int(tree.n_features) if width is None else min(int(tree.n_features), int(width))
    features = _ints(nodes["feature"])[index]
    if ((features < 0) | (features >= limit)).any():
        _fail(f"tree_.feature holds an index outside [0, {limit}) (the features)")
    depth = _depth(n, index, lefts, rights)
    if depth > int(tree.max_depth):
        _fail(f"tree_.max_depth {int(tree.max_depth)} is below the tree's depth {depth}")


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


def _check_ensemble(est: Any, width: int | None) -> None:
    """Members of an ensemble read the columns the ensemble validated (forests and gradient
    boosting skip the members' own check), or their feature subset (bagging)."""
    fitted = getattr(est, "estimators_", None)
    if fitted is None:
        return
    cells = fitted.ravel() if isinstance(fitted, np.ndarray) else list(fitted)
    members = [m for m in cells if _is_sklearn(m)]
    subsets = getattr(est, "estimators_features_", None)
    if subsets is not None and len(subsets) != len(members):
        _fail(f"has {len(subsets)} estimators_features_ for {len(members)} estimators_")
    for i, member in enumerate(members):
        own = getattr(member, "n_features_in_", None)
        expected = width if subsets is None else len(subsets[i])
        if own is not None and expected is not None and int(own) != int(expected):
            _fail(f"estimators_[{i}] reads {int(own)} features, the ensemble gives it {expected}")
        if subsets is not None and width is not None:
            cols = _ints(subsets[i])
            if cols.size and (cols.min() < 0 or cols.max() >= width):
                _fail(f"estimators_features_[{i}] holds a column outside [0, {width})")


def _check_gradient_boosting(est: Any, width: int | None) -> None:
    """predict_stages writes column k of the raw predictions for estimators_[:, k]."""
    _check_ensemble(est, width)
    if not hasattr(est, "estimators_"):
        return  # not fitted
    stages = est.estimators_
    if not isinstance(stages, np.ndarray) or stages.ndim != 2:
        _fail("estimators_ is not a 2-D array of trees")
    k = stages.shape[1]
    if k != int(est.n_trees_per_iteration_):
        _fail(
            f"estimators_ has {k} columns, n_trees_per_iteration_ is {est.n_trees_per_iteration_}"
        )
    init = est.init_
    if k > 1 and init != "zero":
        classes = getattr(init, "classes_", None)
        if classes is None or len(classes) != k or not est._loss.is_multiclass:
            _fail(f"init_ predicts fewer than the {k} columns estimators_ writes")


# ---------------------------------------------------------------- HistGradientBoosting


def _check_hist_gradient_boosting(est: Any, width: int | None) -> None:
    """The bin mapper, the categorical preprocessor and every TreePredictor of one model."""
    if not hasattr(est, "_predictors"):
        return  # not fitted
    n = int(est.n_features_in_)
    categorical = _check_bin_mapper(est._bin_mapper, n)
    _check_preprocessor(getattr(est, "_preprocessor", None), n)
    per_iteration = int(est.n_trees_per_iteration_)
    for i, predictors in enumerate(est._predictors):
        if len(predictors) != per_iteration:
            _fail(f"_predictors[{i}] holds {len(predictors)} trees, not {per_iteration}")
        for k, predictor in enumerate(predictors):
            try:
                _check_predictor(predictor, n, categorical)
            except _Bad as exc:
                raise _Bad(f"_predictors[{i}][{k}]: {exc}") from None


def _check_predictor(predictor: Any, n_features: int, categorical: np.ndarray) -> None:
    """TreePredictor.nodes: children after their node, features and bitset rows in range."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        _fail("nodes is not an array of TreePredictor records")
    if nodes.ndim != 1 or nodes.size == 0:
        _fail(f"nodes has shape {nodes.shape}, not (n_nodes,)")
    n = nodes.size
    index = np.flatnonzero(nodes["is_leaf"] == 0)
    inner = nodes[index]
    lefts, rights = _ints(inner["left"]), _ints(inner["right"])
    if ((lefts <= index) | (lefts >= n) | (rights <= index) | (rights >= n)).any():
        _fail(f"nodes left/right hold an index outside (node, {n}) (out of range or a cycle)")
    features = _ints(inner["feature_idx"])
    if ((features < 0) | (features >= n_features)).any():
        _fail(f"nodes feature_idx holds an index outside [0, {n_features})")
    split = inner["is_categorical"] != 0
    if not split.any():
        return
    if not categorical[features[split]].all():
        _fail("nodes split a feature as categorical that the bin mapper has as numeric")
    rows = min(_bitset_rows(predictor.raw_left_cat_bitsets, "raw_left_cat_bitsets"),
               _bitset_rows(predictor.binned_left_cat_bitsets, "binned_left_cat_bitsets"))  # fmt: skip
    if (_ints(inner["bitset_idx"][split]) >= rows).any():
        _fail(f"nodes bitset_idx holds an index outside [0, {rows}) (the bitsets)")


def _bitset_rows(bitsets: Any, name: str) -> int:
    if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
        _fail(f"{name} is not an (n, 8) array of bitsets")
    if bitsets.dtype != np.uint32 or not bitsets.flags.c_contiguous:
        _fail(f"{name} is not a C-contiguous uint32 array")
    return bitsets.shape[0]


def _check_bin_mapper(mapper: Any, n_features: int) -> np.ndarray:
    """_BinMapper: one threshold array per feature, below n_bins bins, categories in [0, 255).
    Returns is_categorical_ as booleans."""
    categorical = np.asarray(mapper.is_categorical_)
    thresholds, n_bins = mapper.bin_thresholds_, int(mapper.n_bins)
    sizes = (len(thresholds), categorical.size, np.asarray(mapper.n_bins_non_missing_).size)
    if sizes != (n_features,) * 3:
        _fail(f"_bin_mapper describes {sizes} features, the model reads {n_features}")
    if not 3 <= n_bins <= 256 or int(mapper.missing_values_bin_idx_) != n_bins - 1:
        _fail(f"_bin_mapper n_bins {n_bins} / missing_values_bin_idx_ are out of range")
    if (_ints(mapper.n_bins_non_missing_) > n_bins - 1).any():
        _fail(f"_bin_mapper n_bins_non_missing_ exceeds {n_bins - 1}")
    for f, values in enumerate(thresholds):
        values = np.asarray(values)
        if values.ndim != 1 or values.size > n_bins - 1:
            _fail(f"_bin_mapper bin_thresholds_[{f}] has more than {n_bins - 1} thresholds")
        bad = categorical[f] and ((values < 0) | (values >= 255) | (values % 1 != 0)).any()
        if bad:
            _fail(f"_bin_mapper bin_thresholds_[{f}] holds a category outside [0, 255)")
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
                _fail(
                    f"_preprocessor step {name!r} encodes {len(transformer.categories_)} columns, not {count}"
                )
        elif not (isinstance(transformer, FunctionTransformer) or transformer == "passthrough"):
            _fail(f"_preprocessor step {name!r} is a {type(transformer).__name__}")
        elif isinstance(transformer, FunctionTransformer) and transformer.func is not None:
            func = getattr(transformer.func, "func", None)
            if getattr(func, "__name__", None) != "check_array":
                _fail(f"_preprocessor step {name!r} is a function other than check_array")
        total += count
    if total != n_features:
        _fail(f"_preprocessor gives {total} columns, the predictors read {n_features}")


def _column_count(columns: Any, n_features: int) -> int:
    selected = np.asarray(columns)
    if selected.dtype == bool:
        if selected.shape != (n_features,):
            _fail(f"_preprocessor selects columns with a mask of shape {selected.shape}")
        return int(selected.sum())
    return int(np.asarray(np.arange(n_features)[selected]).size)


# ---------------------------------------------------------------- KD and ball trees


def _check_binary_tree(tree: Any, width: int | None) -> None:
    """KDTree/BallTree: idx_array a permutation of the data rows, node ranges inside it,
    children (2i+1, 2i+2) of internal nodes present, node_bounds (k, n_nodes, n_features)."""
    state = tree.__getstate__()
    data, idx, node_data, bounds = (np.asarray(a) for a in state[:4])
    n_nodes = int(state[6])
    if data.ndim != 2 or idx.shape != (data.shape[0],):
        _fail(f"idx_array has shape {idx.shape} for {data.shape} data")
    n = data.shape[0]
    if n and (np.bincount(np.clip(_ints(idx), 0, n), minlength=n + 1)[:n] != 1).any():
        _fail(f"idx_array is not a permutation of the {n} data rows")
    if (
        node_data.shape != (n_nodes,)
        or bounds.ndim != 3
        or bounds.shape[1:] != (n_nodes, data.shape[1])
    ):
        _fail(
            f"node_data {node_data.shape} / node_bounds {bounds.shape} do not match n_nodes {n_nodes}"
        )
    start, end = _ints(node_data["idx_start"]), _ints(node_data["idx_end"])
    if ((start < 0) | (start > end) | (end > n)).any():
        _fail(f"node_data holds an index range outside [0, {n}]")
    internal = np.flatnonzero(node_data["is_leaf"] == 0)
    if internal.size and 2 * int(internal.max()) + 2 >= n_nodes:
        _fail(f"node_data marks a node internal whose children are beyond n_nodes {n_nodes}")
    _check_distance_metric(state[11], data.shape[1])
    weights = state[12]
    if weights is not None and np.asarray(weights).shape != (n,):
        _fail(f"sample_weight has shape {np.asarray(weights).shape}, not ({n},)")


# ---------------------------------------------------------------- libsvm


def _check_libsvm(est: Any, width: int | None) -> None:
    """What libsvm's set_model and predict read: counts, coefficients, intercepts."""
    from sklearn.svm._base import LIBSVM_IMPL

    if not hasattr(est, "support_vectors_"):
        return  # not fitted (a template in another estimator's parameters)
    if est._impl not in LIBSVM_IMPL:
        _fail(f"_impl {est._impl!r} is not a libsvm model type")
    n_support = _ints(est._n_support)
    support, vectors = np.asarray(est.support_), est.support_vectors_
    n_class, count = n_support.size, support.shape[0] if support.ndim == 1 else -1
    # precomputed and callable kernels: libsvm reads columns support_ of a kernel matrix
    precomputed = (isinstance(est.kernel, str) and est.kernel == "precomputed") or callable(
        est.kernel
    )
    if count < 0 or (vectors.shape[0] != count and not precomputed):
        _fail(f"support_ ({support.shape}) and support_vectors_ ({vectors.shape}) disagree")
    if est._impl in ("c_svc", "nu_svc"):
        if n_class < 2 or (n_support < 0).any() or int(n_support.sum()) != count:
            _fail(f"_n_support {n_support.tolist()} does not add up to the {count} support vectors")
    elif n_class != 2:
        _fail(f"_n_support has {n_class} entries, a regression or one-class model has 2")
    pairs = n_class * (n_class - 1) // 2
    if est._dual_coef_.shape != (n_class - 1, count):
        _fail(f"_dual_coef_ has shape {est._dual_coef_.shape}, not ({n_class - 1}, {count})")
    if np.asarray(est._intercept_).shape != (pairs,):
        _fail(f"_intercept_ has shape {np.asarray(est._intercept_).shape}, not ({pairs},)")
    for name in ("_probA", "_probB"):
        if np.asarray(getattr(est, name)).size not in (0, pairs):
            _fail(f"{name} has {np.asarray(getattr(est, name)).size} values, not 0 or {pairs}")
    _check_support_columns(est, support, vectors)


def _check_support_columns(est: Any, support: np.ndarray, vectors: Any) -> None:
    """Precomputed kernels index the kernel's columns by support_; others read vectors."""
    if (isinstance(est.kernel, str) and est.kernel == "precomputed") or callable(est.kernel):
        rows = int(est.shape_fit_[0])
        if support.size and (_ints(support).min() < 0 or _ints(support).max() >= rows):
            _fail(f"support_ holds an index outside [0, {rows}) (the training samples)")
    elif vectors.ndim != 2 or vectors.shape[1] != int(est.shape_fit_[1]):
        _fail(
            f"support_vectors_ has shape {vectors.shape}, the model reads {est.shape_fit_[1]} features"
        )


# ---------------------------------------------------------------- sparse matrices


def _check_sparse(matrix: Any, width: int | None) -> None:
    """scipy's full format check (indices inside the shape, indptr non-decreasing), which
    building a matrix from a file skips; COO and DIA check their indices when built."""
    if hasattr(matrix, "check_format"):
        try:
            matrix.check_format(full_check=True)
        except ValueError as exc:
            _fail(f"is not a valid {matrix.format} matrix ({exc})")


def _CHECKS() -> list[tuple[type, Any]]:
    """(class, check) pairs, most specific first, imported on first use."""
    global _CHECK_TABLE
    if _CHECK_TABLE is None:
        from sklearn.ensemble import BaseEnsemble
        from sklearn.ensemble._gb import BaseGradientBoosting
        from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
            BaseHistGradientBoosting,
        )
        from sklearn.metrics import DistanceMetric
        from sklearn.neighbors import _ball_tree, _kd_tree
        from sklearn.svm._base import BaseLibSVM
        from sklearn.tree._tree import Tree

        _CHECK_TABLE = [
            (Tree, _check_tree),
            (BaseGradientBoosting, _check_gradient_boosting),
            (BaseHistGradientBoosting, _check_hist_gradient_boosting),
            (BaseEnsemble, _check_ensemble),
            *(
                (getattr(module, name), _check_binary_tree)
                for module in (_kd_tree, _ball_tree)
                for name in ("BinaryTree64", "BinaryTree32")
            ),
            (BaseLibSVM, _check_libsvm),
            (DistanceMetric, _check_distance_metric),
            (_bspline_class(), _check_bspline),
        ]
    return _CHECK_TABLE


_CHECK_TABLE: list[tuple[type, Any]] | None = None
