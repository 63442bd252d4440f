"""Small models for tests/test_convert.py (built by the tests; nothing is downloaded)."""

from __future__ import annotations

import numpy as np

SEED = 0


def keras_models() -> dict:
    """name -> small Keras model covering the layers the converter must handle."""
    from exporter.core import frameworks

    keras = frameworks.keras()
    keras.utils.set_random_seed(SEED)
    L = keras.layers
    models = {}
    models["sequential"] = keras.Sequential(
        [keras.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, name="scores")]
    )
    a, b = keras.Input((5,), name="numbers"), keras.Input((3,), name="extra")
    h = L.Dense(6, activation="tanh", name="trunk")(L.Concatenate()([a, b]))
    models["multi_io"] = keras.Model(
        [a, b], [L.Dense(2, name="zeta")(h), L.Dense(1, activation="sigmoid", name="alpha")(h)]
    )
    x = keras.Input((12, 12, 3), name="image")
    y = L.Conv2D(4, 3, name="conv")(x)
    y = L.BatchNormalization(name="bn")(y)
    y = L.DepthwiseConv2D(3, name="depthwise")(L.ReLU()(y))
    y = L.LayerNormalization(name="ln")(L.GlobalAveragePooling2D()(y))
    models["conv_bn"] = keras.Model(x, L.Dense(2, name="head")(y))
    ids = keras.Input((7,), dtype="int32", name="ids")
    e = L.Embedding(20, 6, name="embed")(ids)
    e = L.GRU(5, return_sequences=True, name="gru")(
        L.LSTM(4, return_sequences=True, name="lstm")(e)
    )
    e = L.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")(e, e)
    models["sequence"] = keras.Model(ids, L.Dense(2, name="out")(L.GlobalAveragePooling1D()(e)))
    _randomize_batchnorm(models["conv_bn"].get_layer("bn"))
    return models


def _randomize_batchnorm(layer) -> None:
    """Non-trivial moving statistics, so folding BatchNorm into Conv is visible."""
    rng = np.random.default_rng(SEED)
    gamma, beta, mean, var = layer.get_weights()
    layer.set_weights(
        [
            rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
            rng.normal(0, 0.1, beta.shape).astype(np.float32),
            rng.normal(0, 0.1, mean.shape).astype(np.float32),
            rng.uniform(0.5, 1.5, var.shape).astype(np.float32),
        ]
    )


def application(name: str):
    """A keras.applications model with random weights at a small input size."""
    from exporter.core import frameworks

    keras = frameworks.keras()
    keras.utils.set_random_seed(SEED)
    build = getattr(keras.applications, name)
    return build(weights=None, input_shape=(32, 32, 3), classes=5)


def sklearn_models() -> dict:
    """name -> fitted estimator, for every family the converter must handle."""
    from sklearn import datasets, ensemble, linear_model, neighbors, neural_network, svm
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    Xr, yr = datasets.load_diabetes(return_X_y=True)
    Xc, yc = datasets.load_iris(return_X_y=True)
    Xb, yb = datasets.load_breast_cancer(return_X_y=True)
    Xb = Xb[:, :8]
    small = {"n_estimators": 5, "max_depth": 3, "random_state": SEED}
    regressors = {
        "linear_regression": linear_model.LinearRegression(),
        "ridge": linear_model.Ridge(alpha=0.5),
        "random_forest_regressor": ensemble.RandomForestRegressor(**small),
        "gradient_boosting_regressor": ensemble.GradientBoostingRegressor(**small),
        "hist_gradient_boosting_regressor": ensemble.HistGradientBoostingRegressor(
            max_iter=5, random_state=SEED
        ),
        "mlp_regressor": make_pipeline(
            StandardScaler(),
            neural_network.MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=SEED),
        ),
        "svr": make_pipeline(StandardScaler(), svm.SVR()),
        "kneighbors_regressor": neighbors.KNeighborsRegressor(3),
        "pipeline_scaler_pca_ridge": make_pipeline(StandardScaler(), PCA(4), linear_model.Ridge()),
        "column_transformer": make_pipeline(
            ColumnTransformer(
                [("std", StandardScaler(), [0, 1, 2, 3]), ("mm", MinMaxScaler(), [4, 5, 6])],
                remainder="passthrough",
            ),
            linear_model.LinearRegression(),
        ),
    }
    classifiers = {
        "logistic_binary": (
            make_pipeline(StandardScaler(), linear_model.LogisticRegression()),
            "b",
        ),
        "logistic_multiclass": (linear_model.LogisticRegression(max_iter=500), "c"),
        "random_forest_classifier": (ensemble.RandomForestClassifier(**small), "c"),
        "gradient_boosting_classifier": (ensemble.GradientBoostingClassifier(**small), "c"),
        "hist_gradient_boosting_classifier": (
            ensemble.HistGradientBoostingClassifier(max_iter=5, random_state=SEED),
            "c",
        ),
        "mlp_classifier": (
            make_pipeline(
                MinMaxScaler(),
                neural_network.MLPClassifier(
                    hidden_layer_sizes=(8,), max_iter=100, random_state=SEED
                ),
            ),
            "c",
        ),
        "svc": (make_pipeline(StandardScaler(), svm.SVC()), "b"),
        "kneighbors_classifier": (neighbors.KNeighborsClassifier(3), "c"),
    }
    import warnings

    fitted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the deliberately short fits
        for name, est in regressors.items():
            fitted[name] = est.fit(Xr, yr)
        for name, (est, data) in classifiers.items():
            X, y = (Xb, yb) if data == "b" else (Xc, yc)
            fitted[name] = est.fit(X, y)
    return fitted
