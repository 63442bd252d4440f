"""libsvm models (SVC, NuSVC, SVR, NuSVR, OneClassSVM): what set_model and predict read."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.models.sklearn.checks.base import fail, ints


def check_libsvm(est: Any, width: int | None) -> None:
    """What libsvm's set_model and predict read: counts, coefficients, intercepts."""
    from sklearn.svm._base import LIBSVM_IMPL

    if not hasattr(est, "support_vectors_"):
        return  # not fitted (a template in another estimator's parameters)
    if est._impl not in LIBSVM_IMPL:
        fail(f"_impl {est._impl!r} is not a libsvm model type")
    n_support = ints(est._n_support)
    support, vectors = np.asarray(est.support_), est.support_vectors_
    n_class, count = n_support.size, support.shape[0] if support.ndim == 1 else -1
    # precomputed and callable kernels: libsvm reads columns support_ of a kernel matrix
    precomputed = (isinstance(est.kernel, str) and est.kernel == "precomputed") or callable(
        est.kernel
    )
    if count < 0 or (vectors.shape[0] != count and not precomputed):
        fail(f"support_ ({support.shape}) and support_vectors_ ({vectors.shape}) disagree")
    if est._impl in ("c_svc", "nu_svc"):
        if n_class < 2 or (n_support < 0).any() or int(n_support.sum()) != count:
            fail(f"_n_support {n_support.tolist()} does not add up to the {count} support vectors")
    elif n_class != 2:
        fail(f"_n_support has {n_class} entries, a regression or one-class model has 2")
    pairs = n_class * (n_class - 1) // 2
    if est._dual_coef_.shape != (n_class - 1, count):
        fail(f"_dual_coef_ has shape {est._dual_coef_.shape}, not ({n_class - 1}, {count})")
    if np.asarray(est._intercept_).shape != (pairs,):
        fail(f"_intercept_ has shape {np.asarray(est._intercept_).shape}, not ({pairs},)")
    for name in ("_probA", "_probB"):
        if np.asarray(getattr(est, name)).size not in (0, pairs):
            fail(f"{name} has {np.asarray(getattr(est, name)).size} values, not 0 or {pairs}")
    _check_support_columns(est, support, vectors)


def _check_support_columns(est: Any, support: np.ndarray, vectors: Any) -> None:
    """Precomputed kernels index the kernel's columns by support_; others read vectors."""
    if (isinstance(est.kernel, str) and est.kernel == "precomputed") or callable(est.kernel):
        rows = int(est.shape_fit_[0])
        if support.size and (ints(support).min() < 0 or ints(support).max() >= rows):
            fail(f"support_ holds an index outside [0, {rows}) (the training samples)")
    elif vectors.ndim != 2 or vectors.shape[1] != int(est.shape_fit_[1]):
        fail(
            f"support_vectors_ has shape {vectors.shape}, the model reads {est.shape_fit_[1]} features"
        )
