"""Exact text for every dtype: shortest round-trip decimals, NaN/Inf tokens, NaN payloads."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from exporter.core.errors import InputError
from exporter.formats.textformat import CSV_TOKENS, JSON_TOKENS, format_flat, parse_flat

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


def test_float32_parse_back_only_where_the_proof_found_a_problem(monkeypatch):
    import orjson

    from exporter.formats import textformat

    def needed(values, dtype, exceptions):
        monkeypatch.setattr(textformat, "F32_EXCEPTIONS", exceptions)
        textformat._float32_exceptions.cache_clear()
        return textformat._check_needed(np.array(values, dtype))

    tricky = np.array(0x15AE43FD, np.uint32).view(np.float32)  # 7.038531e-26, which the
    # literal 7.038531e-26 is not: read through float64 it rounds to the next float32 up

    version = orjson.__version__
    try:
        assert needed([1.5, -2.0], np.float32, {version: (0x15AE43FD,)}) is False
        assert needed([1.5, tricky], np.float32, {version: (0x15AE43FD,)}) is True
        assert needed([1.5], np.float32, {"0.0.0": ()}) is True  # unproven version: checked
        assert needed([1.5], np.float64, {version: ()}) is True  # only float32 was proven
        assert needed([1, 2], np.int32, {}) is False  # integers are exact by construction
    finally:
        textformat._float32_exceptions.cache_clear()


@pytest.mark.parametrize("tokens", [JSON_TOKENS, CSV_TOKENS], ids=["json", "csv"])
def test_the_double_rounding_float32_reads_back(tokens):
    # shortest text "7.038531e-26" reads back (through float64) as the next float32 up
    values = np.array([0x15AE43FD, 0x95AE43FD, 0x3F800000], np.uint32).view(np.float32)
    text = format_flat(values, tokens)
    assert text[2] == "1.0" and text[0] != "7.038531e-26"
    assert bits(parse_flat(text, np.dtype(np.float32), "test")) == bits(values)


def test_the_float32_proof_finds_the_known_exception():
    """bench/prove_float32_json.py on the 16M bit patterns holding 7.038531e-26 (about 1 s)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "bench" / "prove_float32_json.py"
    spec = importlib.util.spec_from_file_location("prove_float32_json", path)
    proof = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(proof)
    checked, bad = proof.check_slice(0x15AE43FD // proof.SLICE)
    assert (checked, bad) == (proof.SLICE, [0x15AE43FD])


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_scalar_holding_the_double_rounding_float32_is_written(tmp_path, fmt):
    import exporter

    value = np.array(0x15AE43FD, np.uint32).view(np.float32)  # 0-d
    ws = exporter.WeightSet([exporter.Tensor.from_array("s", value)])
    out = tmp_path / ("s.json" if fmt == "json" else "s-csv")
    exporter.export(ws, out, format=fmt)
    assert bits(exporter.load(out)["s"].read()) == bits(value)
