"""The scikit-learn corpus: every estimator of `sklearn.utils.all_estimators()` that can be fitted
on small bundled data (iris, diabetes, make_classification; fixed seeds), plus a few pipelines and
meta-estimators around a small base estimator.

`build_corpus()` returns {label: (fitted estimator, the inputs it was fitted on)}; labels are class
names (`Pipeline[...]` for the extra composites). Estimators that cannot be fitted on such data are listed in UNFITTABLE with the
reason. Construction follows scikit-learn's own test parameters (fast settings) where it has them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

TEXTS = [
    "the cat sat on the mat",
    "a dog ate my homework",
    "the quick brown fox jumps",
    "über café naïve résumé",
    "cats and dogs are friends",
    "the dog sat",
]
# Estimators whose inputs no small generic data set fits (reason given).
UNFITTABLE = {
    "SparseCoder": "needs a dictionary given at construction; built below instead",
    "FrozenEstimator": "wraps a fitted estimator; built below instead",
}
# Faster settings for the few estimators whose defaults dominate the corpus's fitting time.
FAST = {
    "TSNE": {"max_iter": 250, "perplexity": 5.0},
    "SequentialFeatureSelector": {"n_features_to_select": 1, "cv": 2},
    "RFECV": {"cv": 2},
    "MiniBatchKMeans": {"n_init": 1, "max_iter": 5},
    "GaussianProcessClassifier": {"n_restarts_optimizer": 0, "max_iter_predict": 20},
}


def enable_experimental() -> None:
    """Make the experimental estimators (halving searches, IterativeImputer) part of the corpus."""
    from sklearn.experimental import enable_halving_search_cv, enable_iterative_imputer

    assert enable_halving_search_cv and enable_iterative_imputer


def _data() -> dict[str, Any]:
    from sklearn import datasets

    x_cls, y_cls = datasets.load_iris(return_X_y=True)
    x_reg, y_reg = datasets.load_diabetes(return_X_y=True)
    x_bin, y_bin = datasets.make_classification(n_samples=80, n_features=6, random_state=0)
    return {
        "x_cls": x_cls,
        "y_cls": y_cls,
        "x_reg": x_reg[:120],
        "y_reg": y_reg[:120],
        "x_bin": x_bin,
        "y_bin": y_bin,
    }


def _seeded(est: Any) -> Any:
    """est with every random_state parameter (nested too) fixed to 0."""
    params = est.get_params(deep=True)
    fixed = {k: 0 for k, v in params.items() if k.endswith("random_state") and v is None}
    return est.set_params(**fixed) if fixed else est


def _instance(cls: type) -> Any:
    """The first instance scikit-learn's own tests build for cls, else cls()."""
    try:
        from sklearn.utils._test_common.instance_generator import _construct_instances

        return next(iter(_construct_instances(cls)))
    except Exception:
        return cls()


def _fit(name: str, est: Any, d: dict[str, Any]) -> Any:
    """Fit est on data its tags say it takes; returns those inputs (X)."""
    x, y = _training_data(name, est, d)
    if y is None:
        est.fit(x)
        return x
    try:
        est.fit(x, y)
    except (TypeError, ValueError):  # a transformer whose tags do not say it needs no y
        if name not in ("PLSSVD",):
            est.fit(x)
        else:
            raise
    return x


def _training_data(name: str, est: Any, d: dict[str, Any]) -> tuple[Any, Any]:
    """(X, y or None) for est, chosen by its tags; supervised transformers get y."""
    from sklearn.utils import get_tags

    tags = get_tags(est)
    inputs, target = tags.input_tags, tags.target_tags
    x_cls, y_cls = d["x_cls"], d["y_cls"]
    if name in ("LabelEncoder", "LabelBinarizer"):
        return np.array(["b", "a", "c", "a", "b"]), None
    if name == "MultiLabelBinarizer":
        return [["x", "y"], ["y"], ["z", "x"]], None
    if inputs.string and not inputs.two_d_array:
        return TEXTS, None
    if inputs.dict:
        return [{"a": 1.0, "b": 2.0}, {"b": 3.0, "c": 4.0}, {"a": 5.0, "d": 1.0}], None
    if inputs.three_d_array:
        return np.arange(2 * 8 * 8, dtype=np.float64).reshape(2, 8, 8), None
    if name == "IsotonicRegression":
        return d["x_reg"][:, 2], d["y_reg"]
    if target.multi_output and not target.single_output:
        if tags.classifier_tags:
            return x_cls, np.c_[y_cls, (y_cls + 1) % 3]
        return d["x_reg"], np.c_[d["y_reg"], d["y_reg"] ** 0.5]
    if inputs.pairwise:
        return x_cls[:40] @ x_cls[:40].T, None
    if tags.classifier_tags is not None:
        binary = not tags.classifier_tags.multi_class
        return (d["x_bin"], d["y_bin"]) if binary else (x_cls, y_cls)
    if tags.regressor_tags is not None:
        return d["x_reg"], d["y_reg"]
    return x_cls, y_cls


def _extras(d: dict[str, Any]) -> dict[str, tuple[Callable[[], Any], Any, Any]]:
    """Composites and settings the plain classes do not reach: (make, X, y or None)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA, SparseCoder
    from sklearn.ensemble import BaggingRegressor, StackingRegressor, VotingRegressor
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import FeatureUnion, make_pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, SVR

    xc, yc, xr, yr = d["x_cls"], d["y_cls"], d["x_reg"], d["y_reg"]
    cats = np.array([["a", "x"], ["b", "y"], ["a", "z"], ["c", "x"]], dtype=object)
    return {
        "Pipeline[scaler,pca,ridge]": (
            lambda: make_pipeline(StandardScaler(), PCA(n_components=3), Ridge()),
            xr,
            yr,
        ),
        "ColumnTransformer[scaler,minmax]": (
            lambda: ColumnTransformer(
                [("num", StandardScaler(), [0, 1]), ("mm", MinMaxScaler(), [2, 3])]
            ),
            xc,
            None,
        ),
        "FeatureUnion[pca,scaler]": (
            lambda: FeatureUnion([("pca", PCA(n_components=2)), ("scaler", StandardScaler())]),
            xc,
            None,
        ),
        "FrozenEstimator[ridge]": (lambda: FrozenEstimator(Ridge().fit(xr, yr)), xr, yr),
        "SVC[probability]": (lambda: SVC(probability=True, random_state=0), xc, yc),
        "CalibratedClassifierCV[isotonic,nb]": (
            lambda: CalibratedClassifierCV(GaussianNB(), method="isotonic", cv=3),
            xc,
            yc,
        ),
        "BaggingRegressor[svr]": (
            lambda: BaggingRegressor(SVR(), n_estimators=3, random_state=0),
            xr,
            yr,
        ),
        "StackingRegressor[ridge,svr]": (
            lambda: StackingRegressor([("ridge", Ridge()), ("svr", SVR())], cv=3),
            xr,
            yr,
        ),
        "VotingRegressor[ridge,svr]": (
            lambda: VotingRegressor([("ridge", Ridge()), ("svr", SVR())]),
            xr,
            yr,
        ),
        "OneHotEncoder[strings]": (lambda: OneHotEncoder(), cats, None),
        "LogisticRegression[strings]": (
            lambda: LogisticRegression(max_iter=300),
            xc,
            np.array(["setosa", "versicolor", "virginica"])[yc],
        ),
        "SparseCoder": (
            lambda: SparseCoder(dictionary=PCA(n_components=3).fit(xc).components_),
            xc,
            None,
        ),
    }


def build_corpus() -> tuple[dict[str, tuple[Any, Any]], dict[str, str]]:
    """({label: (fitted estimator, its inputs)}, {label: why it could not be fitted})."""
    from sklearn.utils import all_estimators

    enable_experimental()
    d = _data()
    fitted: dict[str, tuple[Any, Any]] = {}
    failed: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, cls in all_estimators():
            if name in UNFITTABLE:
                continue
            try:
                est = _seeded(_instance(cls)).set_params(**FAST.get(name, {}))
                fitted[name] = (est, _fit(name, est, d))
            except Exception as exc:  # reported by the corpus test, never hidden
                failed[name] = f"{type(exc).__name__}: {exc}"[:200]
        for label, (make, x, y) in _extras(d).items():
            est = make()
            est.fit(x) if y is None else est.fit(x, y)
            fitted[label] = (est, x)
    return fitted, failed
