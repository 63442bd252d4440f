"""Write the small Keras files the fast tests read (tests/data/keras/), so that reading them in
`make test-fast` needs no TensorFlow. Run once with TensorFlow installed; the files are committed.

    python tests/data/make_keras_files.py
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
OUT = Path(__file__).resolve().parent / "keras"


def main() -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(5, name="dense"), keras.layers.BatchNormalization(name="bn"),
         keras.layers.Dense(2, name="head")],
        name="matrix",
    )  # fmt: skip
    OUT.mkdir(exist_ok=True)
    model.save(OUT / "m.keras")
    model.save(OUT / "m.h5")
    model.save_weights(OUT / "m.weights.h5")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
