"""scipy objects a model holds: sparse matrices and BSpline (SplineTransformer)."""

from __future__ import annotations

from typing import Any

import numpy as np

from exporter.models.sklearn.checks.base import fail


def check_sparse(matrix: Any, width: int | None) -> None:
    """scipy's full format check (indices inside the shape, indptr non-decreasing), which
    building a matrix from a file skips; COO and DIA check their indices when built."""
    if hasattr(matrix, "check_format"):
        try:
            matrix.check_format(full_check=True)
        except ValueError as exc:
            fail(f"is not a valid {matrix.format} matrix ({exc})")


def bspline_class() -> type:
    from scipy.interpolate import BSpline

    return BSpline


def check_bspline(spline: Any, width: int | None) -> None:
    """scipy BSpline, rebuilt without __init__: what __init__ checks and evaluate_spline
    relies on (k >= 0, t 1-D sorted finite float64 with 2k + 2 knots or more, c float or
    complex with at least len(t) - k - 1 rows), and its own numpy asarray."""
    from scipy._lib.array_api_compat.numpy import asarray

    state = vars(spline)
    t, c, k = state.get("_t"), state.get("_c"), state.get("k")
    if state.get("_asarray", asarray) not in (asarray, np.asarray):
        fail("holds a function other than numpy's asarray as _asarray")
    if not isinstance(k, (int, np.integer)) or isinstance(k, (bool, np.bool_)) or k < 0:
        fail(f"has degree k={k!r}, not a non-negative integer")
    if not isinstance(t, np.ndarray) or t.dtype != np.float64 or t.ndim != 1:
        fail("has knots t that are not a 1-D float64 array")
    n = t.size - int(k) - 1
    if n < int(k) + 1 or not np.isfinite(t).all() or (np.diff(t) < 0).any() or t[n] <= t[k]:
        fail(f"has {t.size} knots for degree {k}: too few, unsorted, not finite or one interval")
    if not isinstance(c, np.ndarray) or c.dtype not in (np.float64, np.complex128) or c.ndim < 1:
        fail("has coefficients c that are not a float64 or complex128 array")
    if c.shape[0] < n:
        fail(f"has {c.shape[0]} coefficient rows for {t.size} knots of degree {k} (needs {n})")
    axis, extrapolate = state.get("axis"), state.get("extrapolate")
    if not isinstance(axis, (int, np.integer)) or not 0 <= axis < c.ndim:
        fail(f"has axis {axis!r} outside the coefficients' {c.ndim} dimensions")
    if not (isinstance(extrapolate, (bool, np.bool_)) or extrapolate == "periodic"):
        fail(f"has extrapolate={extrapolate!r}, not a bool or 'periodic'")
