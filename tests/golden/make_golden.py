"""Write the golden files of one export format version (run once per new format version).

The files under tests/golden/<format_version>/ are committed and never rewritten: they are what
users of that version hold, and tests/test_golden.py proves they still read, validate, equal their
sources, and that exporting the same source today gives the same bytes.

    python tests/golden/make_golden.py   # refuses to touch a version folder that exists
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FORMATS = {"npz": "npz", "json": "json", "csv": "csv", "safetensors": "safetensors", "c": "h"}


def _onnx_source(path: Path) -> None:
    """A small ONNX graph: float32/float16/int64/bool/bfloat16 initializers and an ML node."""
    sys.path.insert(0, str(HERE.parent))
    import onnx
    from onnx_models import encodings

    model, _, _ = encodings()
    onnx.save(model, path)


def _keras_source(path: Path) -> None:
    """A tiny Keras 3 model: Dense, BatchNormalization (non-trainable moving stats), Dense."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(4, activation="relu", name="dense"),
            keras.layers.BatchNormalization(name="batch_normalization"),
            keras.layers.Dense(2, name="dense_1"),
        ],
        name="golden",
    )
    bn = model.get_layer("batch_normalization")
    bn.moving_mean.assign(np.linspace(-1, 1, 4).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 4).astype("float32"))
    model.save(path)


def _sklearn_source(path: Path) -> None:
    """A fitted StandardScaler + Ridge pipeline on the bundled diabetes data, saved with skops."""
    import skops.io as sio
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    sio.dump(make_pipeline(StandardScaler(), Ridge(alpha=0.5)).fit(x[:, :4], y), path)


SOURCES = {"tiny.onnx": _onnx_source, "tiny.keras": _keras_source, "tiny.skops": _sklearn_source}


def main() -> None:
    from exporter.formats.manifest import FORMAT_VERSION

    folder = HERE / FORMAT_VERSION
    if folder.exists():
        sys.exit(f"{folder} exists: golden files are never rewritten")
    folder.mkdir()
    for name, make in SOURCES.items():
        make(folder / name)
        stem = Path(name).stem + "-" + Path(name).suffix[1:]
        for fmt, ext in FORMATS.items():
            out = folder / f"{stem}.{ext}"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "exporter",
                    "-q",
                    "export",
                    str(folder / name),
                    "-o",
                    str(out),
                    "--format",
                    fmt,
                ],
                check=True,
            )
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
