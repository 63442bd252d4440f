"""inspect statistics: computed in slices, equal to numpy's over the whole tensor."""

from __future__ import annotations

import numpy as np
import pytest

from exporter import Tensor
from exporter.api import STATS_CHUNK, tensor_stats


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.bool_])
def test_sliced_statistics_match_numpy(dtype):
    rng = np.random.default_rng(0)
    values = rng.normal(3, 2, size=2 * STATS_CHUNK + 17)
    if dtype == np.bool_:
        values = values > 3
    array = values.astype(dtype)
    wide = array.astype(np.float64)
    row = tensor_stats(Tensor.from_array("x", array), array)
    assert row["min"] == wide.min() and row["max"] == wide.max()
    assert row["mean"] == pytest.approx(wide.mean(), rel=1e-12)
    assert row["std"] == pytest.approx(wide.std(), rel=1e-9)
    assert row["parameters"] == array.size and row["nonfinite"] == 0


def test_non_finite_values_are_counted_not_averaged():
    array = np.array([1.0, np.nan, np.inf, 3.0], np.float32)
    row = tensor_stats(Tensor.from_array("x", array), array)
    assert (row["min"], row["max"], row["mean"], row["std"], row["nonfinite"]) == (
        1.0,
        3.0,
        2.0,
        1.0,
        2,
    )
    empty = np.zeros((0, 3), np.float32)
    assert tensor_stats(Tensor.from_array("e", empty), empty)["mean"] is None


def test_huge_finite_values_do_not_overflow_the_statistics():
    array = np.array([1e308, -1e308, 1e308, -1e308])
    row = tensor_stats(Tensor.from_array("x", array), array)
    assert row["mean"] == 0.0 and row["std"] == pytest.approx(1e308)
