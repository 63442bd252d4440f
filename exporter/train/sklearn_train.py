"""Train a scikit-learn estimator by class name (or a pipeline 'StandardScaler+PCA+Ridge').

Defaults reproduce the classic example: LinearRegression on X = [[1,1],[1,2],[2,2],[2,3]],
y = X.[1,2] + 3 + seeded Gaussian noise (sigma 0.1). Saved with skops by default (safe to load);
.joblib / .pkl on request.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from exporter.core.errors import UsageError, require
from exporter.files.publish import atomic_file
from exporter.train.data import Data

SAVE_FORMATS = (".skops", ".joblib", ".pkl", ".pickle")


@dataclass
class SklearnRun:
    """What a training run made."""

    estimator: Any
    data: Data
    score: float | None  # None for estimators without score() (transformers)
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)


@cache
def estimator_classes() -> dict[str, type]:
    """Every public scikit-learn estimator class by name (all_estimators)."""
    from sklearn.utils import all_estimators

    return dict(all_estimators())


def estimator_class(name: str) -> type:
    """The scikit-learn estimator class called name (case-insensitive), or a UsageError."""
    classes = estimator_classes()
    if name in classes:
        return classes[name]
    folded = {k.lower(): v for k, v in classes.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    import difflib

    close = difflib.get_close_matches(name, list(classes), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UsageError(f"--estimator {name!r} is not a scikit-learn estimator{hint}")


def parse_value(text: str) -> Any:
    """'0.5' -> 0.5, 'True' -> True, 'None' -> None, '(10,5)' -> (10, 5); else the string."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """['alpha=0.5', 'max_depth=3'] -> {'alpha': 0.5, 'max_depth': 3}."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {pair!r}: write name=value")
        params[key.strip()] = parse_value(value.strip())
    return params


def build(spec: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted estimator or pipeline from 'Name' or 'A+B+C', with params and random_state."""
    from sklearn.pipeline import make_pipeline

    steps = [estimator_class(part.strip())() for part in spec.split("+") if part.strip()]
    if not steps:
        raise UsageError("--estimator is empty")
    est = steps[0] if len(steps) == 1 else make_pipeline(*steps)
    valid = est.get_params()
    resolved = {}
    for key, value in params.items():
        if key in valid:
            resolved[key] = value
        elif len(steps) > 1 and f"{est.steps[-1][0]}__{key}" in valid:
            resolved[f"{est.steps[-1][0]}__{key}"] = value
        else:
            shown = ", ".join(sorted(k for k in valid if "__" not in k or len(steps) > 1)[:20])
            raise UsageError(f"--param {key}: not a parameter of {spec} (has: {shown})")
    for key in valid:
        if key.split("__")[-1] == "random_state" and key not in resolved:
            resolved[key] = seed
    try:
        est.set_params(**resolved)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--param: {exc}") from None
    return est


def is_classifier(est: Any) -> bool:
    from sklearn.base import is_classifier as check

    return bool(check(est))


def train(
    data: Data,
    *,
    estimator: str = "LinearRegression",
    params: dict[str, Any] | None = None,
    seed: int = 42,
    out: str | None = None,
    force: bool = False,
) -> SklearnRun:
    """Fit the estimator on data and save it to out (.skops by default; .joblib/.pkl on request)."""
    require("sklearn", "sklearn")
    est = build(estimator, params or {}, seed)
    y = data.y.ravel() if data.y.ndim == 2 and data.y.shape[1] == 1 else data.y
    with warnings.catch_warnings(record=True) as caught:  # e.g. ConvergenceWarning, as one line
        warnings.simplefilter("always")
        try:
            est.fit(data.X, y)
            score = float(est.score(data.X, y)) if hasattr(est, "score") else None
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{estimator} cannot be fitted on {data.name}: {exc}") from None
    messages = dict.fromkeys(str(w.message).splitlines()[0] for w in caught if str(w.message))
    run = SklearnRun(est, data, score, warnings=list(messages))
    if out:
        save(est, Path(out), force=force)
        run.path = Path(out)
    return run


def save(est: Any, path: Path, *, force: bool = False) -> None:
    """Save with skops (.skops) or joblib (.joblib/.pkl/.pickle), atomically."""
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise UsageError(f"-o {path}: save as one of {', '.join(SAVE_FORMATS)}")
    with atomic_file(path, force=force) as tmp:
        if suffix == ".skops":
            require("skops.io", "sklearn").dump(est, tmp)
        else:
            require("joblib", "sklearn").dump(est, tmp)
