"""XGBoost JSON and LightGBM text models read as data (exporter/models/trees), proven complete:
an evaluator that walks the arrays read back from an NPZ export reproduces the libraries' own
raw predictions (XGBoost output_margin=True, LightGBM raw_score=True) on held-out rows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import exporter

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

ROOT = Path(__file__).resolve().parents[1]
ROWS, FEATURES = 400, 6


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(ROWS, FEATURES))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values in every column
    x[::11, 3] = 0.0  # exact zeros, for LightGBM's zero_as_missing
    x[:, 4] = np.where(np.isnan(x[:, 4]), np.nan, rng.integers(0, 9, ROWS))  # a category, or NaN
    score = np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) ** 2 - np.nan_to_num(x[:, 2])
    score += np.isin(x[:, 4], [1, 4, 6, 7]) * 1.5
    return x, score


def _labels(score: np.ndarray, kind: str) -> np.ndarray:
    if kind == "regression":
        return score
    if kind == "binary":
        return (score > np.median(score)).astype(int)
    return np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))


XGB_MODELS = {
    "regression": {"objective": "reg:squarederror"},
    "binary": {"objective": "binary:logistic"},
    "multiclass": {"objective": "multi:softprob", "num_class": 3},
    "dart": {"objective": "reg:squarederror", "booster": "dart", "rate_drop": 0.3},
    "gblinear": {"objective": "reg:squarederror", "booster": "gblinear"},
    "poisson": {"objective": "count:poisson"},
    "categorical": {"objective": "reg:squarederror", "max_cat_to_onehot": 1},
    "categorical_onehot": {"objective": "binary:logistic", "max_cat_to_onehot": 16},
}
CATEGORICAL = ["q"] * 4 + ["c"] + ["q"] * (FEATURES - 5)
LGB_MODELS = {
    "regression": {"objective": "regression"},
    "binary": {"objective": "binary"},
    "multiclass": {"objective": "multiclass", "num_class": 3},
    "zero_as_missing": {"objective": "regression", "zero_as_missing": True},
    "no_missing": {"objective": "regression", "use_missing": False},
    "categorical": {"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1},
    "categorical_multiclass": {"objective": "multiclass", "num_class": 3, "min_data_per_group": 5},
    "random_forest": {
        "objective": "regression",
        "boosting": "rf",
        "bagging_freq": 1,
        "bagging_fraction": 0.7,
    },
    "linear_tree": {"objective": "regression", "linear_tree": True},
    "linear_tree_binary": {"objective": "binary", "linear_tree": True, "linear_lambda": 0.1},
}


def _label_kind(params: dict) -> str:
    if "num_class" in params:
        return "multiclass"
    return "binary" if params["objective"] in ("binary", "binary:logistic") else "regression"


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """name -> (booster, saved model path, held-out rows), trained once per session."""
    folder = tmp_path_factory.mktemp("trees")
    x, score = _data()
    train, held = slice(0, 300), slice(300, None)
    found = {}
    for name, params in XGB_MODELS.items():
        y = _labels(score, _label_kind(params))
        y = np.abs(y) if name == "poisson" else y
        types = CATEGORICAL if name.startswith("categorical") else None
        dtrain = xgb.DMatrix(
            x[train], y[train], feature_types=types, enable_categorical=bool(types)
        )
        shape = {} if name == "gblinear" else {"max_depth": 4}
        booster = xgb.train({**shape, "eta": 0.3, "seed": 1, **params}, dtrain, 12)
        path = folder / f"xgb_{name}.json"
        booster.save_model(path)
        booster.save_model(path.with_suffix(".ubj"))
        found["xgb", name] = (booster, path, x[held], types)
    for name, params in LGB_MODELS.items():
        y = _labels(score, _label_kind(params))
        cats = [4] if name.startswith("categorical") else "auto"
        dtrain = lgb.Dataset(x[train], y[train], categorical_feature=cats)
        booster = lgb.train({"num_leaves": 15, "verbose": -1, "seed": 1, **params}, dtrain, 12)
        path = folder / f"lgb_{name}.txt"
        booster.save_model(path)
        found["lgb", name] = (booster, path, x[held])
    return found


def exported(path: Path, tmp_path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The model exported to NPZ, read back with numpy: arrays and the manifest."""
    out = tmp_path / (path.stem + ".npz")
    exporter.export(path, out, format="npz")
    with np.load(out) as npz:
        arrays = {key: npz[key] for key in npz.files if key != "manifest.json"}
        manifest = json.loads(npz["manifest.json"])
    return arrays, manifest


# ---------------------------------------------------------------- the evaluator


def leaves(arrays: dict[str, np.ndarray], t: int, x: np.ndarray, rule: str) -> np.ndarray:
    """Node index (global) of the leaf each row of x reaches in tree t."""
    start = int(arrays["trees/tree_offsets"][t])
    feature = arrays["trees/feature"]
    node = np.zeros(len(x), np.int64)
    rows = np.arange(len(x))
    for _ in range(int(arrays["trees/tree_offsets"][t + 1]) - start):
        here = start + node
        inner = arrays["trees/children_left"][here] != -1
        if not inner.any():
            break
        value = x[rows, np.where(inner, feature[here], 0)]
        left = _goes_left(arrays, here, value, rule)
        step = np.where(
            left, arrays["trees/children_left"][here], arrays["trees/children_right"][here]
        )
        node = np.where(inner, step, node)
    return start + node


def _goes_left(
    arrays: dict[str, np.ndarray], here: np.ndarray, value: np.ndarray, rule: str
) -> np.ndarray:
    threshold, default = arrays["trees/threshold"][here], arrays["trees/default_left"][here]
    categorical = arrays["trees/is_categorical"][here] if "trees/is_categorical" in arrays else None
    if rule == "xgboost":
        numeric = value < threshold
        if categorical is not None:  # listed categories go right, invalid ones left
            listed = (value >= 0) & _listed(arrays, here, np.trunc(value), categorical)
            numeric = np.where(categorical, ~listed, numeric)
        return np.where(np.isnan(value), default, numeric)
    missing = arrays["trees/missing_type"][here]
    raw = value
    value = np.where(np.isnan(value) & (missing != 2), 0.0, value)
    to_default = ((missing == 1) & (np.abs(value) <= 1e-35)) | ((missing == 2) & np.isnan(value))
    numeric = np.where(to_default, default, value <= threshold)
    if categorical is None:
        return numeric
    whole = np.trunc(np.nan_to_num(raw, nan=-1.0))  # listed categories go left; NaN, < 0 right
    listed = (whole >= 0) & _listed(arrays, here, whole, categorical)
    return np.where(categorical, listed, numeric)


def _listed(arrays, here: np.ndarray, whole: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Whether each row's value is in the category set of the node it is at."""
    offsets, categories = arrays["trees/category_offsets"], arrays["trees/categories"]
    inside = np.zeros(len(here), bool)
    for node in np.unique(here[categorical]):
        rows = here == node
        inside[rows] = np.isin(whole[rows], categories[offsets[node] : offsets[node + 1]])
    return inside


def xgb_margin(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    base = arrays["base_margin"]
    out = np.tile(base, (len(x), 1))
    if "linear/weight" in arrays:
        weight, bias = arrays["linear/weight"], arrays["linear/bias"]
        for k in range(out.shape[1]):
            out[:, k] = bias[k] + base[k]
            for j in range(x.shape[1]):
                present = ~np.isnan(x[:, j])
                out[present, k] += x[present, j] * weight[j, k]
        return out
    weights = arrays.get("trees/tree_weight")
    for t, k in enumerate(arrays["trees/tree_class"]):
        leaf = arrays["trees/value"][leaves(arrays, t, x, "xgboost")]
        out[:, k] += leaf if weights is None else leaf * weights[t]
    return out


def lgb_raw(arrays: dict[str, np.ndarray], x: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((len(x), classes))
    for t, k in enumerate(arrays["trees/tree_class"]):
        leaf = leaves(arrays, t, x, "lightgbm")
        out[:, k] += (
            arrays["trees/value"][leaf]
            if "trees/leaf_const" not in arrays
            else _linear(arrays, leaf, x)
        )
    return out


def _linear(arrays: dict[str, np.ndarray], leaf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """LightGBM linear leaves: leaf_const + coeff . x, in LightGBM's order; leaf value on NaN."""
    offsets = arrays["trees/linear_offsets"]
    out = np.empty(len(x))
    for row, node in enumerate(leaf):
        total = arrays["trees/leaf_const"][node]
        for i in range(offsets[node], offsets[node + 1]):
            value = x[row, arrays["trees/linear_features"][i]]
            if np.isnan(value):
                total = arrays["trees/value"][node]
                break
            total += arrays["trees/linear_coeff"][i] * value
        out[row] = total
    return out


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(XGB_MODELS))
def test_xgboost_margins_reproduced(models, tmp_path, name):
    booster, path, held, types = models["xgb", name]
    arrays, manifest = exported(path, tmp_path)
    matrix = xgb.DMatrix(held, feature_types=types, enable_categorical=bool(types))
    theirs = booster.predict(matrix, output_margin=True).reshape(len(held), -1)
    ours = xgb_margin(arrays, held)
    assert (
        ours.dtype == np.float32
        and arrays["trees/threshold" if name != "gblinear" else "linear/weight"].dtype == np.float32
    )
    np.testing.assert_array_equal(ours, theirs)  # float32 sums in XGBoost's order: bit-identical
    if name == "dart":  # the weights matter: dropped trees were rescaled
        assert (arrays["trees/tree_weight"] != 1).any()
    if name.startswith("categorical"):
        assert arrays["trees/is_categorical"].any()
    assert manifest["source"]["info"]["objective"] == XGB_MODELS[name]["objective"]


@pytest.mark.parametrize("name", list(LGB_MODELS))
def test_lightgbm_raw_scores_reproduced(models, tmp_path, name):
    booster, path, held = models["lgb", name]
    arrays, manifest = exported(path, tmp_path)
    classes = LGB_MODELS[name].get("num_class", 1)
    theirs = booster.predict(held, raw_score=True).reshape(len(held), -1)
    ours = lgb_raw(arrays, held, classes)
    if manifest["source"]["info"]["average_output"]:  # random forest: raw_score is the sum,
        iterations = len(arrays["trees/tree_class"]) // classes  # predict() the mean
        np.testing.assert_array_equal(ours[:, 0] / iterations, booster.predict(held))
    assert arrays["trees/threshold"].dtype == np.float64
    if name.startswith("linear"):
        assert len(arrays["trees/linear_coeff"]) > 0
    kinds = set(
        np.unique(arrays["trees/missing_type"][arrays["trees/children_left"] != -1]).tolist()
    )
    assert kinds >= {"regression": {2}, "zero_as_missing": {1}, "no_missing": {0}}.get(name, set())
    if name.startswith("categorical"):
        assert arrays["trees/is_categorical"].any()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", list(XGB_MODELS))
def test_xgboost_ubjson_same_as_json(models, tmp_path, name):
    _, path, *_ = models["xgb", name]
    ubj = path.with_suffix(".ubj")
    assert ubj.read_bytes()[:1] == b"{"
    (tmp_path / "u").mkdir()
    from_json, _ = exported(path, tmp_path)
    from_ubj, manifest = exported(ubj, tmp_path / "u")
    assert manifest["source"]["kind"] == "xgboost-ubj"
    assert list(from_json) == list(from_ubj)
    for key, array in from_json.items():
        assert from_ubj[key].dtype == array.dtype
        np.testing.assert_array_equal(from_ubj[key], array, err_msg=key)


def test_layout_consistent(models, tmp_path):
    _, path, *_ = models["xgb", "multiclass"]
    arrays, _ = exported(path, tmp_path)
    offsets = arrays["trees/tree_offsets"]
    assert offsets[0] == 0 and offsets[-1] == len(arrays["trees/feature"])
    assert len(arrays["trees/tree_class"]) == len(offsets) - 1 == 36
    leaf = arrays["trees/children_left"] == -1
    assert (arrays["trees/feature"][leaf] == -2).all()
    assert (arrays["trees/children_right"][leaf] == -1).all()
    assert sorted(set(arrays["trees/tree_class"].tolist())) == [0, 1, 2]


NO_TREES = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("xgboost", "lightgbm", "catboost", "sklearn"):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Block())
    sys.argv = ["exporter", *sys.argv[1:]]
    from exporter.cli.app import main
    try:
        main()
    finally:
        loaded = [m for m in sys.modules if m.split(".")[0] in ("xgboost", "lightgbm", "catboost")]
        assert not loaded, loaded
    """
)


@pytest.mark.slow
def test_reading_never_imports_the_libraries(models, tmp_path):
    keys = (
        ("xgb", "multiclass"),
        ("xgb", "gblinear"),
        ("xgb", "categorical"),
        ("lgb", "categorical"),
    )
    paths = [models[key][1] for key in keys] + [models["xgb", "dart"][1].with_suffix(".ubj")]
    never_imports(paths, tmp_path)


def never_imports(paths: list[Path], tmp_path: Path) -> None:
    for path in paths:
        for args in (["inspect", path], ["export", path, "-o", tmp_path / f"{path.stem}.npz"]):
            done = subprocess.run(
                [sys.executable, "-c", NO_TREES, *map(str, args)],
                capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            assert done.returncode == 0, (args, done.stderr[-2000:])
