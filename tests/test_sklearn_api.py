"""scikit-learn estimators through their API: names, bit-identical values, model facts, files."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeRegressor

import exporter

X_REG, Y_REG = datasets.load_diabetes(return_X_y=True)
X_CLS, Y_CLS = datasets.load_iris(return_X_y=True)


def fitted(est, classify=False):
    return est.fit(X_CLS, Y_CLS) if classify else est.fit(X_REG, Y_REG)


def attr(est, path: str):
    """Follow a canonical sklearn name (coefs_/0, estimators_/3/tree_/value) to the attribute."""
    value = est
    private = False
    for part in path.split("/"):
        if part == "private":  # private attributes are exported without their underscore
            private = True
            continue
        if private:
            value, private = getattr(value, "_" + part), False
        elif part.isdigit():
            value = value[int(part)]
        elif hasattr(value, "named_steps") and part in value.named_steps:
            value = value.named_steps[part]
        elif hasattr(value, "named_transformers_") and part in value.named_transformers_:
            value = value.named_transformers_[part]
        else:
            value = getattr(value, part)
    return np.asarray(value)


def assert_bit_identical(est, ws):
    assert len(ws) > 0
    for tensor in ws:
        expected = attr(est, tensor.name)
        got = tensor.read()
        assert got.dtype == expected.dtype and got.shape == expected.shape, tensor.name
        assert got.tobytes() == expected.tobytes(), tensor.name


CASES = {
    "linear": (lambda: LinearRegression(), False, ["coef_", "intercept_"]),
    "ridge": (lambda: Ridge(alpha=0.5), False, ["coef_", "intercept_"]),
    "logistic": (lambda: LogisticRegression(max_iter=500), True, ["coef_", "intercept_"]),
    "scaler": (lambda: StandardScaler(), False, ["mean_", "var_", "scale_"]),
    "minmax": (lambda: MinMaxScaler(), False, ["min_", "scale_", "data_min_", "data_max_"]),
    "pca": (lambda: PCA(n_components=3), False, ["components_", "mean_", "explained_variance_"]),
    "mlp": (lambda: MLPRegressor(hidden_layer_sizes=(8, 4), max_iter=50, random_state=0), False,
            ["coefs_/0", "coefs_/1", "coefs_/2", "intercepts_/0", "intercepts_/2"]),
    "tree": (lambda: DecisionTreeRegressor(max_depth=3, random_state=0), False,
             ["tree_/children_left", "tree_/threshold", "tree_/value", "tree_/feature"]),
    "forest": (lambda: RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), True,
               ["estimators_/0/tree_/threshold", "estimators_/2/tree_/value"]),
    "gb-reg": (lambda: GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0), False,
               ["estimators_/0/0/tree_/threshold", "estimators_/2/0/tree_/value", "init_/constant_"]),
    "gb-cls": (lambda: GradientBoostingClassifier(n_estimators=2, max_depth=2, random_state=0), True,
               ["estimators_/1/2/tree_/value"]),
    "svc": (lambda: SVC(), True, ["support_vectors_", "dual_coef_", "intercept_", "support_"]),
    "svr": (lambda: SVR(), False, ["support_vectors_", "dual_coef_", "intercept_"]),
    "pipeline": (lambda: make_pipeline(StandardScaler(), PCA(n_components=2), Ridge()), False,
                 ["standardscaler/mean_", "pca/components_", "ridge/coef_", "ridge/intercept_"]),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_estimators_give_bit_identical_named_tensors(case):
    make, classify, expected_names = CASES[case]
    est = fitted(make(), classify)
    ws = exporter.load(est)
    assert set(expected_names) <= set(ws.names()), ws.names()
    assert_bit_identical(est, ws)
    assert ws.info.extra["n_features_in_"] == (4 if classify else 10) or case == "pipeline"
    if classify and case != "gb-cls":
        assert ws.info.extra.get("classes_") == [0, 1, 2]


def test_pipeline_steps_and_facts_go_to_model_info():
    est = fitted(make_pipeline(StandardScaler(), Ridge()))
    info = exporter.load(est).info
    assert info.model_name == "Pipeline"
    assert info.extra["standardscaler/n_features_in_"] == 10
    assert [s[0] for s in info.extra["steps"]] == ["standardscaler", "ridge"]


def test_column_transformer_prefixes_step_names():
    ct = ColumnTransformer([("num", StandardScaler(), [0, 1, 2]), ("mm", MinMaxScaler(), [3, 4])])
    est = make_pipeline(ct, Ridge()).fit(X_REG, Y_REG)
    ws = exporter.load(est)
    assert {"columntransformer/num/mean_", "columntransformer/mm/scale_", "ridge/coef_"} <= set(
        ws.names()
    )
    assert_bit_identical(est, ws)


def test_hist_gradient_boosting_exports_its_predictor_nodes():
    est = fitted(HistGradientBoostingRegressor(max_iter=3, random_state=0))
    ws = exporter.load(est)
    nodes = est._predictors[2][0].nodes
    got = ws["private/predictors/2/0/nodes/num_threshold"].read()
    assert got.tobytes() == np.ascontiguousarray(nodes["num_threshold"]).tobytes()


def test_unfitted_estimator_is_a_usage_error():
    with pytest.raises(exporter.UsageError, match="not fitted"):
        exporter.load(Ridge())


def test_skops_file_round_trip_and_pickle_needs_trust(tmp_path, cli):
    import joblib
    import skops.io as sio

    est = fitted(Ridge())
    sio.dump(est, tmp_path / "m.skops")
    joblib.dump(est, tmp_path / "m.joblib")
    assert_bit_identical(est, exporter.load(tmp_path / "m.skops"))
    with pytest.raises(exporter.UnsafeInputError, match="--trust"):
        exporter.load(tmp_path / "m.joblib")
    assert_bit_identical(est, exporter.load(tmp_path / "m.joblib", trust=True))
    result = cli("inspect", tmp_path / "m.joblib")
    assert result.exit_code == 3 and "--trust" in result.stderr
    assert cli("inspect", "--trust", tmp_path / "m.joblib").exit_code == 0


def test_pickle_payload_does_not_run_without_trust(tmp_path, cli):
    marker = tmp_path / "ran"
    payload = tmp_path / "evil.pkl"
    import pickle

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload.write_bytes(pickle.dumps(Evil()))
    result = cli("export", payload, "-o", tmp_path / "x.npz")
    assert result.exit_code == 3
    assert "refused" in result.stderr and "io.open" in result.stderr
    assert not marker.exists() and not (tmp_path / "x.npz").exists()


def test_skops_with_untrusted_type_is_refused_and_named(tmp_path):
    import os.path

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    est = FunctionTransformer(func=os.path.basename).fit([["a"]])
    sio.dump(est, tmp_path / "f.skops")
    with pytest.raises(exporter.UnsafeInputError, match=r"posixpath\.basename"):
        exporter.load(tmp_path / "f.skops")


def test_forest_in_skops_is_trusted(tmp_path):
    import skops.io as sio

    est = fitted(RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0), True)
    sio.dump(est, tmp_path / "rf.skops")
    assert_bit_identical(est, exporter.load(tmp_path / "rf.skops"))


def test_refusal_lists_globals_reached_through_the_memo(tmp_path, cli):
    # strings memoized as sklearn names, then posix.system built from memo references (BINGET)
    crafted = (
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
        b"\x8c\x1asklearn.linear_model._base\x94\x8c\x10LinearRegression\x94"
        b"\x8c\x05posix\x94\x8c\x06system\x94h\x02h\x03\x93\x8c\x07echo hi\x85R."
    )
    (tmp_path / "evil.pkl").write_bytes(crafted)
    result = cli("inspect", tmp_path / "evil.pkl")
    assert result.exit_code == 3 and "(it imports posix.system)" in result.stderr


def test_joblib_refusal_says_the_list_is_partial(tmp_path, cli):
    import joblib

    joblib.dump(fitted(Ridge()), tmp_path / "m.joblib")
    result = cli("inspect", tmp_path / "m.joblib")
    assert (
        "it imports at least" in result.stderr
        and "sklearn.linear_model._ridge.Ridge" in result.stderr
    )


def test_trusted_pickle_that_is_not_an_estimator_is_exit_3(tmp_path, cli):
    import pickle

    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    result = cli("inspect", "--trust", tmp_path / "list.pkl")
    assert result.exit_code == 3 and "not a scikit-learn estimator" in result.stderr
