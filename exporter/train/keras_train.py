"""Train the Keras example: Dense(64, relu) -> Dense(32, relu) -> Dense(1) on 10 features, Adam + MSE.

Same seed and data give the same weights (seeded Keras, deterministic ops, one thread order).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.core import frameworks
from exporter.core.errors import UsageError
from exporter.files.publish import atomic_file
from exporter.train.data import Data

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear", "softplus")


@dataclass
class KerasRun:
    """What a training run made: the model, its data, the final loss, the file."""

    model: Any
    data: Data
    history: dict[str, list[float]] = field(default_factory=dict)
    path: Path | None = None


def parse_layers(text: str) -> list[int]:
    """'64,32' -> [64, 32]; each a positive integer."""
    try:
        units = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--layers {text!r}: give comma-separated unit counts like 64,32"
        ) from None
    if not units or any(u <= 0 for u in units):
        raise UsageError(f"--layers {text!r}: unit counts must be positive integers")
    return units


def build_model(n_features: int, layers: list[int], activation: str, n_classes: int | None):
    """The Sequential model: hidden Dense layers, then Dense(1) or Dense(n_classes, softmax)."""
    keras = frameworks.keras()
    model = keras.Sequential(name="sequential")
    model.add(keras.Input(shape=(n_features,)))
    # Explicit names (Keras's defaults in a fresh process) so that names never depend on how
    # many models this process built before: dense, dense_1, dense_2, ...
    names = ["dense"] + [f"dense_{i}" for i in range(1, len(layers) + 1)]
    for units, name in zip(layers, names, strict=False):
        model.add(keras.layers.Dense(units, activation=activation, name=name))
    if n_classes:
        model.add(keras.layers.Dense(n_classes, activation="softmax", name=names[-1]))
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    else:
        model.add(keras.layers.Dense(1, activation="linear", name=names[-1]))
        loss, metrics = "mean_squared_error", []
    model.compile(optimizer="adam", loss=loss, metrics=metrics)
    return model


def train(
    data: Data,
    *,
    layers: list[int],
    activation: str = "relu",
    epochs: int = 10,
    batch_size: int = 32,
    seed: int = 42,
    out: str | None = None,
    force: bool = False,
    progress: Any = None,
) -> KerasRun:
    """Train the example network on data and save it to out (.keras, or legacy .h5)."""
    if activation not in ACTIVATIONS:
        raise UsageError(f"--activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
    if epochs < 1 or batch_size < 1:
        raise UsageError("--epochs and --batch-size must be at least 1")
    suffix = Path(out).suffix.lower() if out else ".keras"
    if out and suffix not in (".keras", ".h5"):
        raise UsageError(f"-o {out}: a Keras model is saved as .keras or .h5")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    keras = frameworks.keras()
    tf = frameworks.tensorflow()
    import numpy as np

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    n_classes = int(np.max(data.y)) + 1 if data.classification else None
    model = build_model(data.X.shape[1], layers, activation, n_classes)
    X = data.X.astype(np.float32)
    y = data.y.astype(np.int64 if n_classes else np.float32)
    if not n_classes and y.ndim == 1:
        y = y.reshape(-1, 1)
    callbacks = [progress] if progress is not None else []
    history = model.fit(
        X, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True, callbacks=callbacks
    )
    run = KerasRun(model, data, {k: [float(v) for v in vs] for k, vs in history.history.items()})
    if out:
        with atomic_file(out, force=force) as tmp:
            target = tmp.with_name(tmp.name + suffix)  # Keras picks the format by extension
            model.save(target)
            os.replace(target, tmp)
        run.path = Path(out)
    return run
