"""Exact text for every dtype: shortest round-trip decimals, NaN/Inf tokens, NaN payloads."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from exporter.errors import InputError
from exporter.textformat import CSV_TOKENS, JSON_TOKENS, format_flat, parse_flat

FLOATS = [np.float16, np.float32, np.float64, ml_dtypes.bfloat16]


def bits(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array).tobytes()


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("tokens", [JSON_TOKENS, CSV_TOKENS], ids=["json", "csv"])
def test_floats_round_trip_bit_for_bit(dtype, tokens):
    rng = np.random.default_rng(0)
    info = ml_dtypes.finfo(dtype)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, float(info.max), -float(info.max),
               float(info.tiny), float(info.smallest_subnormal), 0.1, 1 / 3]  # fmt: skip
    values = np.concatenate(
        [np.array(special), rng.normal(0, 10, 500), rng.uniform(-1e-3, 1e-3, 100)]
    )
    array = values.astype(dtype)
    back = parse_flat(format_flat(array, tokens), np.dtype(dtype), "test")
    assert bits(back) == bits(array)


def test_shortest_repr_is_used():
    text = format_flat(np.array([0.1, 2.5, -0.0], np.float32), JSON_TOKENS)
    assert text == ["0.1", "2.5", "-0.0"]
    assert format_flat(np.array([0.1], np.float64), JSON_TOKENS) == ["0.1"]


def test_nan_payloads_and_sign_are_kept():
    raw = np.array([0x7FC00000, 0x7FC00001, 0xFFC00000, 0x7F800001], np.uint32).view(np.float32)
    text = format_flat(raw, JSON_TOKENS)
    assert text[0] == "NaN"
    assert text[1] == "NaN:0x7fc00001" and text[2] == "NaN:0xffc00000"
    assert bits(parse_flat(text, np.dtype(np.float32), "t")) == bits(raw)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "uint64", "uint16"])
def test_integers_exact_at_their_limits(dtype):
    info = np.iinfo(dtype)
    array = np.array([info.min, info.max, 0, 1], dtype=dtype)
    back = parse_flat(format_flat(array, JSON_TOKENS), np.dtype(dtype), "t")
    assert back.dtype == np.dtype(dtype) and bits(back) == bits(array)


def test_bools():
    array = np.array([True, False, True])
    assert format_flat(array, JSON_TOKENS) == ["true", "false", "true"]
    assert parse_flat(["true", "false", "1"], np.dtype(bool), "t").tolist() == [True, False, True]


def test_bad_values_raise_input_error():
    with pytest.raises(InputError):
        parse_flat(["1.5", "abc"], np.dtype(np.float32), "t")
    with pytest.raises(InputError, match="out of range"):
        parse_flat(["300"], np.dtype(np.uint8), "t")
    with pytest.raises(InputError):
        parse_flat(["maybe"], np.dtype(bool), "t")
