"""The walk over everything a loaded estimator holds, and the checks each object gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from exporter.core.errors import UnsafeInputError
from exporter.models.sklearn.checks.base import Bad, Context, is_sklearn
from exporter.models.sklearn.checks.neighbors import (
    check_binary_tree,
    check_distance_metric,
    check_metric_params,
)
from exporter.models.sklearn.checks.policy import FIT_ONLY, check_policy, is_code, scorer_base
from exporter.models.sklearn.checks.scipy_objects import bspline_class, check_bspline, check_sparse
from exporter.models.sklearn.checks.svm import check_libsvm
from exporter.models.sklearn.checks.trees import (
    check_ensemble,
    check_gradient_boosting,
    check_hist_gradient_boosting,
    check_tree,
)

MAX_OBJECTS = 5_000_000  # objects visited; more is not a model a file should describe
_SCALARS = (str, bytes, int, float, complex, np.generic)


def check_structures(estimator: Any, where: str) -> None:
    """Refuse (UnsafeInputError, exit 3) an estimator whose compiled structures hold an index
    outside what it indexes, or that would do I/O or call a function with arguments from the
    file when it predicts, naming the file (where), the estimator path and the field.
    Walks pipelines, ensembles, meta-estimators and every attribute they hold."""
    for path, obj, width, context in _walk(estimator, where):
        try:
            check_policy(obj, context)
        except Bad as exc:
            raise UnsafeInputError(
                f"{where}: {path or 'the estimator'} {exc}; refused, a loaded model never reads "
                "files or runs a function the file chooses when it predicts (re-save the model "
                "without it)"
            ) from None
        try:
            for check in _checkers(obj):
                check(obj, width)
        except Bad as exc:
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


def _walk(root: Any, where: str) -> Iterator[tuple[str, Any, int | None, Context]]:
    """(path, object, n_features of the nearest enclosing estimator, context) for every object
    held (scalars aside), without recursion. Each object is walked once per kind of context
    (fit-only or not); a function is yielded at every reference, as where it sits decides."""
    seen: set[tuple[int, bool]] = set()
    stack: list[tuple[str, Any, int | None, Context]] = [("", root, None, Context())]
    visits = 0
    while stack:
        path, obj, width, context = stack.pop()
        visits += 1
        if visits > MAX_OBJECTS:
            raise UnsafeInputError(
                f"{where}: the model holds more than {MAX_OBJECTS:,} objects; refused"
            )
        if not is_code(obj):
            if (id(obj), context.fit_only) in seen:
                continue
            seen.add((id(obj), context.fit_only))
        own = getattr(obj, "n_features_in_", None) if is_sklearn(obj) else None
        width = own if isinstance(own, (int, np.integer)) else width
        yield path, obj, width, context
        for key, child in _children(obj):
            if child is not None and not isinstance(child, _SCALARS):
                inner = _inner_context(obj, key, context)
                stack.append((f"{path}/{key}" if path else str(key), child, width, inner))


def _inner_context(obj: Any, key: Any, context: Context) -> Context:
    """The context of what obj holds under key."""
    if not is_sklearn(obj):
        return context._replace(direct=False)
    fit_only = context.fit_only or key in FIT_ONLY or isinstance(obj, scorer_base())
    return Context(obj, str(key), True, fit_only)


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
    if is_sklearn(obj) and isinstance(getattr(obj, "__dict__", None), dict):
        return iter(list(vars(obj).items()))
    return iter(())


def _checkers(obj: Any) -> list:
    """The checks for obj: its class's (none when it has nothing compiled code indexes) and,
    for scikit-learn objects with distance-metric parameters, theirs."""
    import scipy.sparse as sp

    found = [check_sparse] if sp.issparse(obj) else []
    for cls, check in _CHECKS():
        if isinstance(obj, cls):
            found.append(check)
            break
    held = getattr(obj, "__dict__", None) if is_sklearn(obj) else None
    if isinstance(held, dict) and ("metric_params" in held or "effective_metric_params_" in held):
        found.append(check_metric_params)
    return found


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
            (Tree, check_tree),
            (BaseGradientBoosting, check_gradient_boosting),
            (BaseHistGradientBoosting, check_hist_gradient_boosting),
            (BaseEnsemble, check_ensemble),
            *(
                (getattr(module, name), check_binary_tree)
                for module in (_kd_tree, _ball_tree)
                for name in ("BinaryTree64", "BinaryTree32")
            ),
            (BaseLibSVM, check_libsvm),
            (DistanceMetric, check_distance_metric),
            (bspline_class(), check_bspline),
        ]
    return _CHECK_TABLE


_CHECK_TABLE: list[tuple[type, Any]] | None = None
