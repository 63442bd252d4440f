"""exporter train keras|sklearn — train the example models (or your own data) and save them."""

from __future__ import annotations

from typing import Annotated

import typer

from exporter.cli.common import Force, ProgressBar, info

Seed = Annotated[
    int, typer.Option("--seed", help="Random seed (same seed + data -> same weights).")
]
DataFile = Annotated[
    str | None, typer.Option("--data", help="CSV with a header row, or NPZ with arrays X and y.")
]
Target = Annotated[
    str | None, typer.Option("--target", help="Target column of a CSV (default: the last).")
]
Dataset = Annotated[
    str | None,
    typer.Option(
        "--dataset", help="Bundled scikit-learn data: diabetes, iris, wine, breast_cancer, digits."
    ),
]


def _epoch_bar(epochs: int):
    """A Keras callback driving a progress bar over epochs (stderr, terminals only)."""
    from exporter.core import frameworks

    keras = frameworks.keras()
    bar = ProgressBar(epochs, "training")

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            bar()

    return Progress()


def keras_command(
    out: Annotated[
        str, typer.Option("--out", "-o", help="Model file: .keras or legacy .h5.")
    ] = "model.keras",
    layers: Annotated[str, typer.Option("--layers", help="Hidden layer sizes.")] = "64,32",
    activation: Annotated[str, typer.Option("--activation", help="Hidden activation.")] = "relu",
    epochs: Annotated[int, typer.Option("--epochs")] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    seed: Seed = 42,
    data: DataFile = None,
    target: Target = None,
    dataset: Dataset = None,
    force: Force = False,
) -> None:
    """Train Dense(64, relu) -> Dense(32, relu) -> Dense(1) with Adam + MSE (defaults: 100x10 random data).

    Classification data sets train a softmax classifier instead.
    """
    from exporter.train import data as data_mod
    from exporter.train import keras_train

    units = keras_train.parse_layers(layers)
    chosen = data_mod.choose(seed, data, target, dataset, data_mod.keras_default)
    run = keras_train.train(
        chosen,
        layers=units,
        activation=activation,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        out=out,
        force=force,
        progress=_epoch_bar(epochs),
    )
    loss = run.history["loss"][-1]
    info(
        f"trained on {chosen.name} ({len(chosen.X)} rows), final loss {loss:.6g}; saved {run.path}"
    )


def sklearn_command(
    out: Annotated[
        str, typer.Option("--out", "-o", help=".skops (default, safe), .joblib or .pkl.")
    ] = "model.skops",
    estimator: Annotated[
        str,
        typer.Option(
            "--estimator", help="Estimator class name, or a pipeline like StandardScaler+PCA+Ridge."
        ),
    ] = "LinearRegression",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="name=value, repeatable.")
    ] = None,
    seed: Seed = 42,
    data: DataFile = None,
    target: Target = None,
    dataset: Dataset = None,
    force: Force = False,
) -> None:
    """Fit a scikit-learn estimator (default: LinearRegression on the classic 4-point example).

    A classifier with no --data/--dataset trains on the bundled iris data.
    """
    from exporter.train import data as data_mod
    from exporter.train import sklearn_train

    params = sklearn_train.parse_params(param or [])
    est = sklearn_train.build(estimator, params, seed)
    if not data and not dataset and sklearn_train.is_classifier(est):
        dataset = "iris"
        info("a classifier needs class labels: training on the bundled iris data")
    chosen = data_mod.choose(seed, data, target, dataset, data_mod.sklearn_default)
    run = sklearn_train.train(
        chosen, estimator=estimator, params=params, seed=seed, out=out, force=force
    )
    for warning in run.warnings:
        info(f"warning: {warning}")
    score = f", score {run.score:.6g}" if run.score is not None else ""
    info(f"trained {estimator} on {chosen.name} ({len(chosen.X)} rows){score}; saved {run.path}")
    for name in ("coef_", "intercept_"):
        value = getattr(run.estimator, name, None)
        if value is not None:
            import numpy as np

            shown = value if np.size(value) <= 10 else f"array of shape {np.shape(value)}"
            info(f"{name} = {shown}")
