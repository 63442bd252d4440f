"""Training data: built-in seeded defaults, scikit-learn's bundled data sets, or a user's file."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporter.core.errors import InputError, UsageError

DATASETS = ("diabetes", "iris", "wine", "breast_cancer", "digits")
CLASSIFICATION = {"iris", "wine", "breast_cancer", "digits"}


@dataclass
class Data:
    """Features X (n x d), targets y, and what they are."""

    X: np.ndarray
    y: np.ndarray
    name: str
    classification: bool = False
    feature_names: list[str] | None = None


def keras_default(seed: int) -> Data:
    """The classic example: 100 x 10 uniform inputs, 100 x 1 uniform targets, seeded."""
    rng = np.random.default_rng(seed)
    X = rng.random((100, 10)).astype(np.float32)
    y = rng.random((100, 1)).astype(np.float32)
    return Data(X, y, "random-100x10")


def sklearn_default(seed: int) -> Data:
    """The classic example: X = [[1,1],[1,2],[2,2],[2,3]], y = X.[1,2] + 3 + N(0, 0.1) noise."""
    X = np.array([[1, 1], [1, 2], [2, 2], [2, 3]], dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0.0, 0.1, size=len(X))
    return Data(X, X @ np.array([1.0, 2.0]) + 3.0 + noise, "linear-4x2")


def bundled(name: str) -> Data:
    """One of scikit-learn's bundled data sets (no download)."""
    if name not in DATASETS:
        raise UsageError(f"unknown --dataset {name!r}; choose one of {', '.join(DATASETS)}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    names = [str(n) for n in getattr(bunch, "feature_names", [])] or None
    return Data(bunch.data, bunch.target, name, name in CLASSIFICATION, names)


def from_file(path: str, target: str | None) -> Data:
    """Features and targets from a CSV with a header (target column) or an NPZ with X and y."""
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: no such data file")
    if file.suffix.lower() == ".npz":
        return _from_npz(file)
    return _from_csv(file, target)


def _from_npz(file: Path) -> Data:
    try:
        with np.load(file, allow_pickle=False) as archive:
            if "X" not in archive or "y" not in archive:
                raise InputError(f"{file}: an NPZ data file needs arrays named X and y")
            X, y = archive["X"], archive["y"]
    except (ValueError, OSError) as exc:
        raise InputError(f"{file}: cannot read NPZ data ({exc})") from None
    if X.ndim != 2 or len(X) != len(y):
        raise InputError(f"{file}: X must be 2-D with as many rows as y (X {X.shape}, y {y.shape})")
    return Data(X, y, file.name, _looks_categorical(y))


def _from_csv(file: Path, target: str | None) -> Data:
    with open(file, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        raise InputError(f"{file}: a CSV data file needs a header and at least one row")
    header, body = rows[0], rows[1:]
    column = target or header[-1]
    if column not in header:
        raise UsageError(f"--target {column!r} is not a column of {file} ({', '.join(header)})")
    index = header.index(column)
    try:
        values = np.array([[float(v) for v in row] for row in body], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"{file}: non-numeric value ({exc})") from None
    X = np.delete(values, index, axis=1)
    y = values[:, index]
    features = [h for i, h in enumerate(header) if i != index]
    return Data(X, y, file.name, _looks_categorical(y), features)


def _looks_categorical(y: np.ndarray) -> bool:
    y = np.asarray(y)
    if y.ndim != 1:
        return False
    if y.dtype.kind in "iub":
        return True
    return bool(np.all(y == np.round(y)) and len(np.unique(y)) <= max(2, min(20, len(y) // 5)))


def choose(seed: int, data: str | None, target: str | None, dataset: str | None, default) -> Data:
    """The data set for a training run: --data FILE, --dataset NAME, or the built-in default."""
    if data and dataset:
        raise UsageError("give --data or --dataset, not both")
    if target and not data:
        raise UsageError("--target only applies with --data FILE.csv")
    if data:
        return from_file(data, target)
    if dataset:
        return bundled(dataset)
    return default(seed)
