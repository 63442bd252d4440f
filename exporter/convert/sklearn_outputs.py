"""What each ONNX output of a skl2onnx conversion means, and the source model's side of it.

skl2onnx names outputs by what they hold; each is compared with the estimator method it
corresponds to (the final step decides for a Pipeline):

| estimator                                   | outputs                                            |
|---------------------------------------------|----------------------------------------------------|
| feature selector (RFE, SelectFromModel, ..) | variable = transform()                             |
| outlier detector (OneClassSVM, IsolationF.) | label = predict(), scores = decision_function()    |
| mixture (GaussianMixture, Bayesian..)       | label = predict(), probabilities = predict_proba() |
| classifier                                  | label = predict(), probabilities = predict_proba() |
|                                             | or decision_function() without probabilities       |
| clusterer with transform (KMeans)           | label = predict(), scores = transform()            |
| regressor / anything with predict           | variable = predict()                               |
| transformer                                 | variable = transform(), sparse made dense          |

zipmap: label/probabilities are called output_label/output_probability. Several outputs at
once (MultiOutputClassifier's probabilities) are laid side by side. Layout quirks are resolved
by `SourceOutput.aligned`: a vector of n values equals a [n, 1] or [1, n] tensor of the same
values in order (QuadraticDiscriminantAnalysis, OneVsOneClassifier labels); a binary classifier's
one score d is [d] or, in two columns, [d, -d] for libsvm models (SVC, NuSVC) and [-d, d]
(one column per class) for the others (SGDClassifier, Perceptron, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class SourceOutput:
    """One output of the source model, aligned to the ONNX output's layout when compared."""

    values: np.ndarray
    binary_layout: str | None = None  # "libsvm" or "classes": how a 1-D binary score is laid out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    def aligned(self, shape: tuple[int, ...]) -> np.ndarray:
        """The values in the layout of an ONNX output of this shape (unchanged if none fits)."""
        values, shape = self.values, tuple(shape)
        if values.shape == shape:
            return values
        if self.binary_layout and values.ndim == 1 and len(shape) == 2 and shape[0] == len(values):
            if shape[1] == 1:
                return values[:, None]
            if shape[1] == 2:
                pair = [values, -values] if self.binary_layout == "libsvm" else [-values, values]
                return np.stack(pair, axis=1)
        squeezed = [d for d in values.shape if d != 1] == [d for d in shape if d != 1]
        if squeezed and values.size == math.prod(shape):
            return values.reshape(shape)
        return values


def output_names(est: Any, zipmap: bool) -> tuple[str, ...]:
    """The names skl2onnx gives est's outputs (see the module docstring)."""
    role = _role(_final(est))
    if role in ("classifier", "mixture"):
        return ("output_label", "output_probability") if zipmap else ("label", "probabilities")
    if role in ("outlier", "clusterer"):
        return ("label", "scores")
    return ("variable",)


def source_outputs(est: Any, X: Any, zipmap: bool) -> dict[str, SourceOutput]:
    """The source model's outputs on X under skl2onnx's names, by meaning."""
    final = _final(est)
    role = _role(final)
    names = output_names(est, zipmap)
    if role == "selector" or role == "transformer":
        return {names[0]: SourceOutput(_dense(est.transform(X)))}
    if role == "predictor":
        return {names[0]: SourceOutput(_dense(est.predict(X)).reshape(_rows(X), -1))}
    label = SourceOutput(np.asarray(est.predict(X)))
    if role == "outlier":
        return {names[0]: label, names[1]: SourceOutput(np.asarray(est.decision_function(X)))}
    if role == "clusterer":
        return {names[0]: label, names[1]: SourceOutput(np.asarray(est.transform(X)))}
    return {names[0]: label, names[1]: _scores(est, final, X)}


def _role(final: Any) -> str:
    from sklearn.base import is_clusterer, is_outlier_detector
    from sklearn.feature_selection import SelectorMixin

    if isinstance(final, SelectorMixin):
        return "selector"
    if is_outlier_detector(final):
        return "outlier"
    if hasattr(final, "predict") and hasattr(final, "classes_"):
        return "classifier"
    if hasattr(final, "predict_proba") and hasattr(final, "means_"):
        return "mixture"
    if is_clusterer(final) and hasattr(final, "transform") and hasattr(final, "predict"):
        return "clusterer"
    return "predictor" if hasattr(final, "predict") else "transformer"


def _final(est: Any) -> Any:
    while hasattr(est, "steps"):
        est = est.steps[-1][1]
    return est


def _rows(X: Any) -> int:
    return len(X)


def _dense(values: Any) -> np.ndarray:
    """A scipy sparse result (OneHotEncoder, TfidfTransformer, ...) as a dense array."""
    return np.asarray(values.toarray() if hasattr(values, "toarray") else values)


def _scores(est: Any, final: Any, X: Any) -> SourceOutput:
    """predict_proba, else decision_function (a binary score with its skl2onnx layout)."""
    if hasattr(final, "predict_proba") and getattr(final, "probability", True):
        proba = est.predict_proba(X)
        if isinstance(proba, list):  # one array per output (MultiOutputClassifier)
            return SourceOutput(np.concatenate([np.asarray(p) for p in proba], axis=1))
        return SourceOutput(np.asarray(proba))
    scores = np.asarray(est.decision_function(X))
    layout = "libsvm" if hasattr(final, "support_vectors_") else "classes"
    return SourceOutput(scores, layout if scores.ndim == 1 else None)
