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

from exporter.models.sklearn.checks.walk import check_structures

__all__ = ["check_structures"]
