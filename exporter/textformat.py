"""Exact text for tensor values (JSON and CSV): vectorized, and proven to read back bit for bit.

Floats are written as the shortest decimal that reads back to the same value of their own dtype
(numpy's Dragon4 'unique' repr, as str(np.float32(x)) prints it). Each batch is parsed back and
compared bit for bit before it is used; anything that does not survive falls back to a longer
form. NaN and the infinities have no JSON number, so they are written as tokens, and a NaN with
an unusual payload or sign keeps its exact bits ("NaN:0x7fc00001").
"""

from __future__ import annotations

import numpy as np

from .dtypes import is_float
from .errors import InputError

JSON_TOKENS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
CSV_TOKENS = {"nan": "nan", "inf": "inf", "-inf": "-inf"}
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(_UINT[values.dtype.itemsize])


def _parse_float_strings(strings: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Decimal strings -> dtype, through float64 (the path readers use too)."""
    return strings.astype(np.float64).astype(dtype)


def _format_finite(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip strings for finite floats of any float dtype."""
    dtype = values.dtype
    if dtype in (np.float16, np.float32, np.float64):
        strings = values.astype(str)
    else:  # bfloat16, float8: widen and find the shortest %g that reads back
        strings = np.char.mod("%.17g", values.astype(np.float64))
        wide = values.astype(np.float64)
        todo = np.arange(values.size)
        for digits in range(1, 18):
            if not todo.size:
                break
            trial = np.char.mod(f"%.{digits}g", wide[todo])
            ok = _bits(_parse_float_strings(trial, dtype)) == _bits(values[todo])
            strings[todo[ok]] = trial[ok]
            todo = todo[~ok]
    bad = _bits(_parse_float_strings(strings, dtype)) != _bits(values)
    if bad.any():  # never seen; %.17g of the widened value is always exact
        strings = strings.astype(object)
        strings[bad] = np.char.mod("%.17g", values[bad].astype(np.float64))
    return strings


def format_flat(array: np.ndarray, tokens: dict[str, str]) -> list[str]:
    """Every value of array in C order as exact text (see the module docstring)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype == np.bool_:
        return np.where(flat, "true", "false").tolist()
    if flat.dtype.kind in "iu":
        return flat.astype(str).tolist()
    if not is_float(flat.dtype):
        raise InputError(f"cannot write dtype {flat.dtype} as text")
    out = np.empty(flat.size, dtype=object)
    finite = np.isfinite(flat)
    if finite.any():
        out[finite] = _format_finite(flat[finite])
    if not finite.all():
        out[~finite] = [_special(v, tokens) for v in flat[~finite]]
    return out.tolist()


def _special(value: np.generic, tokens: dict[str, str]) -> str:
    wide = float(value)
    if wide == np.inf:
        return tokens["inf"]
    if wide == -np.inf:
        return tokens["-inf"]
    canonical = np.array([np.nan], dtype=value.dtype)
    bits = _bits(np.array([value]))[0]
    if bits == _bits(canonical)[0]:
        return tokens["nan"]
    return f"{tokens['nan']}:0x{int(bits):0{value.dtype.itemsize * 2}x}"


def parse_flat(strings: list[str] | np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """Text values (as written by format_flat, JSON or CSV tokens) back to a 1-D array of dtype."""
    strings = np.asarray(strings, dtype=str)
    if dtype == np.bool_:
        lowered = np.char.lower(strings)
        if not np.isin(lowered, ["true", "false", "1", "0"]).all():
            raise InputError(f"{where}: boolean values must be true/false")
        return np.isin(lowered, ["true", "1"])
    try:
        if np.dtype(dtype).kind in "iu":
            return _parse_ints(strings, dtype, where)
        return _parse_floats(strings, dtype)
    except (ValueError, OverflowError) as exc:
        raise InputError(f"{where}: value is not a {np.dtype(dtype)}: {exc}") from None


def _parse_ints(strings: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    info = np.iinfo(dtype)
    wide = strings.astype(np.uint64 if info.min == 0 else np.int64)
    if strings.size and (wide.min() < info.min or wide.max() > info.max):
        raise InputError(f"{where}: value out of range for {np.dtype(dtype)}")
    return wide.astype(dtype)


def _parse_floats(strings: np.ndarray, dtype: np.dtype) -> np.ndarray:
    lowered = np.char.lower(strings)
    special = np.char.startswith(lowered, "nan") | np.isin(
        lowered, ["inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"]
    )
    plain = np.where(special, "0", strings)
    out = _parse_float_strings(plain, dtype)
    for index in np.flatnonzero(special):
        out[index] = _parse_special(str(lowered[index]), dtype)
    return out


def _parse_special(token: str, dtype: np.dtype):
    if token.startswith("nan:0x"):
        bits = np.array([int(token[6:], 16)], dtype=_UINT[np.dtype(dtype).itemsize])
        return bits.view(dtype)[0]
    if token.startswith("nan"):
        if token != "nan":
            raise ValueError(f"bad NaN token {token!r}")
        return np.array(np.nan, dtype=dtype)
    return np.array(-np.inf if token.startswith("-") else np.inf, dtype=dtype)
