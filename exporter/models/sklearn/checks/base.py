"""What every structure check shares: the refusal, the context an object sits in, and helpers."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Bad(Exception):
    """A structure that fails a check (the field and what is wrong)."""


class Context(NamedTuple):
    """Where an object sits: the nearest scikit-learn object holding it, the attribute, whether
    it is that attribute's value itself, and whether only fitting or scoring uses it."""

    owner: Any = None
    attribute: str = ""
    direct: bool = False
    fit_only: bool = False


def is_sklearn(obj: Any) -> bool:
    return type(obj).__module__.startswith("sklearn.")


def fail(message: str) -> None:
    raise Bad(message)


def ints(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64, copy=False)
