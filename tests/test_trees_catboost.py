"""CatBoost JSON models read as data (exporter/models/trees/catboost_json.py): an evaluator walking
the arrays read back from an NPZ export reproduces `predict(prediction_type="RawFormulaVal")`
bit for bit on held-out rows (regression, binary, multi-class, NaN handling)."""

from __future__ import annotations

import numpy as np
import pytest
from test_trees import _data, _labels, exported, never_imports

# ---------------------------------------------------------------- CatBoost (JSON)

CB_MODELS = {
    "regression": ("CatBoostRegressor", {"loss_function": "RMSE"}),
    "binary": ("CatBoostClassifier", {"loss_function": "Logloss"}),
    "multiclass": ("CatBoostClassifier", {"loss_function": "MultiClass"}),
    "nan_as_max": ("CatBoostRegressor", {"loss_function": "RMSE", "nan_mode": "Max"}),
}


@pytest.fixture(scope="session")
def catboost_models(tmp_path_factory):
    cb = pytest.importorskip("catboost")
    folder = tmp_path_factory.mktemp("catboost")
    x, score = _data()
    found = {}
    for name, (cls, params) in CB_MODELS.items():
        kind = {"binary": "binary", "multiclass": "multiclass"}.get(name, "regression")
        model = getattr(cb, cls)(
            iterations=15,
            depth=4,
            verbose=0,
            random_seed=1,
            thread_count=1,
            allow_writing_files=False,
            **params,
        )
        model.fit(x[:300], _labels(score, kind)[:300])
        path = folder / f"cb_{name}.json"
        model.save_model(str(path), format="json")
        found[name] = (model, path, x[300:])
    return found


def catboost_raw(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """scale * sum of the trees + bias; x <= threshold goes left, as float32 like CatBoost."""
    x = x.astype(np.float32)
    out = np.zeros((len(x), len(arrays["bias"])))
    for t, k in enumerate(arrays["trees/tree_class"]):
        out[:, k] += arrays["trees/value"][_leaves_le(arrays, t, x)]
    return arrays["scale"] * out + arrays["bias"]


def _leaves_le(arrays, t, x):
    start = int(arrays["trees/tree_offsets"][t])
    node = np.zeros(len(x), np.int64)
    rows = np.arange(len(x))
    while True:
        here = start + node
        inner = arrays["trees/children_left"][here] != -1
        if not inner.any():
            return here
        value = x[rows, np.where(inner, arrays["trees/feature"][here], 0)]
        left = np.where(
            np.isnan(value),
            arrays["trees/default_left"][here],
            value <= arrays["trees/threshold"][here],
        )
        step = np.where(
            left, arrays["trees/children_left"][here], arrays["trees/children_right"][here]
        )
        node = np.where(inner, step, node)


@pytest.mark.parametrize("name", list(CB_MODELS))
def test_catboost_raw_formula_reproduced(catboost_models, tmp_path, name):
    model, path, held = catboost_models[name]
    arrays, manifest = exported(path, tmp_path)
    assert manifest["source"]["kind"] == "catboost-json"
    assert arrays["trees/threshold"].dtype == np.float32
    theirs = np.asarray(model.predict(held, prediction_type="RawFormulaVal")).reshape(len(held), -1)
    ours = catboost_raw(arrays, held)
    np.testing.assert_array_equal(ours, theirs)  # float64 sums in CatBoost's order: bit-identical
    if name == "nan_as_max":
        assert not arrays["trees/default_left"][arrays["trees/children_left"] != -1].any()


@pytest.mark.slow
def test_reading_never_imports_catboost(catboost_models, tmp_path):
    never_imports([catboost_models["multiclass"][1]], tmp_path)
