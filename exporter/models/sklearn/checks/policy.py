"""A loaded model never does I/O or calls a function the file chooses when it predicts."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from exporter.models.sklearn.checks.base import Context, fail, is_sklearn

# Attributes only fit (or score) uses, never predict/transform: the functions they hold
# (trusted ones: score functions, scorers' metrics, k-means runs) are not called by `verify`.
FIT_ONLY = frozenset({"score_func", "scoring", "refit", "optimizer", "callback", "cv",
                      "_kmeans_single"})  # fmt: skip
# Parameters scikit-learn calls at predict/transform time when they hold a callable.
CALL_PARAMS = ("metric", "effective_metric_", "func", "inverse_func", "kernel", "affinity",
               "analyzer", "preprocessor", "tokenizer", "strip_accents", "importance_getter",
               "feature_names_out", "pooling_func", "dissimilarity")  # fmt: skip
_SCALAR_TYPES = (np.generic, int, float, complex, str, bytes, bool)


def check_policy(obj: Any, context: Context) -> None:
    """A model never does I/O or calls a function the file chooses when it predicts."""
    if is_code(obj):
        if not (context.fit_only or _allowed_code(obj, context)):
            fail(
                f"holds {_describe(obj)}, which scikit-learn would call with arguments from "
                "the file or the data when predicting"
            )
        return
    if not is_sklearn(obj) or not isinstance(getattr(obj, "__dict__", None), dict):
        return
    source = vars(obj).get("input")
    if isinstance(source, str) and source in ("filename", "file"):
        fail(f"has input={source!r}: transform would open and read the files its input names")
    for name in CALL_PARAMS:
        value = vars(obj).get(name)
        if callable(value) and not is_code(value) and not _callable_data(name, value):
            fail(f"holds a callable {type(value).__name__} as {name}, which predicting calls")


def is_code(value: Any) -> bool:
    """What a file can name to be called: functions (Python, builtin, numpy, Cython), ufuncs,
    partials and classes beyond scalar types. Callable objects of scikit-learn or
    scipy.interpolate classes (kernels, scorers, splines, IsotonicRegression's interp1d) are
    walked and checked as objects."""
    if not callable(value):
        return False
    if isinstance(value, type):
        return not (value is object or issubclass(value, _SCALAR_TYPES))
    return not type(value).__module__.startswith(("sklearn.", "scipy.interpolate."))


def _allowed_code(func: Any, context: Context) -> bool:
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


def scorer_base() -> type:
    from sklearn.metrics._scorer import _BaseScorer

    return _BaseScorer
