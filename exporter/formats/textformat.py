"""Exact text for tensor values (JSON and CSV): vectorized, and proven to read back bit for bit.

Floats are written as the shortest decimal that reads back to the same value of their own dtype.
float32/float64 and integers are formatted by orjson (Ryu in C, shortest round-trip digits for the
value's own width: `0.1` for float32 0.1, not `0.10000000149011612`); float16, bfloat16 and float8
by numpy (Dragon4 'unique' repr, or the shortest %g that reads back). Every batch of floats is
parsed back (orjson.loads, correctly rounded, then through float64 as the readers do) and compared
bit for bit before it is used; a batch that does not survive is formatted again the slow way, whose
own check falls back to %.17g. The one exception is float32 under an orjson version listed in
F32_EXCEPTIONS: bench/prove_float32_json.py ran that same check on every finite float32 there is
and listed the values that fail it (orjson 3.13.0: only ±7.038531e-26, a double-rounding case
through float64), so a float32 batch is parsed back only when it holds one of those; the check
costs twice the formatting. NaN and the infinities have no JSON number, so they are written as
tokens, and a NaN with an unusual payload or sign keeps its exact bits ("NaN:0x7fc00001").

Values are formatted in blocks of at most CHUNK_VALUES, so a big tensor never exists as one
Python list of strings: writers call `json_block` / `csv_rows` on slices of the tensor.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from exporter.core.dtypes import is_float, unsigned
from exporter.core.errors import InputError

JSON_TOKENS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
CSV_TOKENS = {"nan": "nan", "inf": "inf", "-inf": "-inf"}
CHUNK_VALUES = 1 << 16  # values formatted and checked at once (~0.8 MB of text; fits in cache)
_ORJSON_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# orjson version -> bit patterns of the float32 values whose orjson text does NOT read back
# (parsed to float64, then float32), as found by bench/prove_float32_json.py over all
# 4,278,190,080 finite float32 values. Versions not listed get every float32 batch checked.
F32_EXCEPTIONS = {"3.13.0": (0x15AE43FD, 0x95AE43FD)}


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(unsigned(values.dtype.itemsize))


def _parse_float_strings(strings: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Decimal strings -> dtype, through float64 (the path readers use too)."""
    return strings.astype(np.float64).astype(dtype)


# ---------------------------------------------------------------- fast path (orjson)


def _orjson():
    import orjson

    return orjson


@cache
def _float32_exceptions() -> np.ndarray | None:
    """The float32 bit patterns the installed orjson is known to write inexactly; None when
    that version was not checked exhaustively."""
    found = F32_EXCEPTIONS.get(_orjson().__version__)
    return None if found is None else np.array(found, dtype=np.uint32)


def _check_needed(block: np.ndarray) -> bool:
    """Whether orjson's text of block must be parsed back before it is trusted."""
    if block.dtype.kind != "f" or not block.size:
        return False
    if block.dtype == np.float32:
        exceptions = _float32_exceptions()
        if exceptions is not None:
            return bool(np.isin(block.view(np.uint32), exceptions).any())
    return True


def _fast_ok(block: np.ndarray) -> bool:
    """True when orjson can write block exactly as it is (finite floats of its width, ints, bool)."""
    dtype = block.dtype
    if dtype.byteorder == ">" or not block.flags.c_contiguous:
        return False
    if dtype.kind in "iub":
        return True
    return dtype in _ORJSON_FLOATS and bool(np.isfinite(block).all())


def _fast_json(block: np.ndarray) -> bytes | None:
    """orjson's nested JSON text of block, or None when it cannot be proven exact."""
    orjson = _orjson()
    option = orjson.OPT_SERIALIZE_NUMPY
    if block.ndim == 0:
        inner = _fast_json(block.reshape(1))
        return inner[1:-1] if inner is not None else None
    text = orjson.dumps(block, option=option)
    if _check_needed(block):
        back = np.array(orjson.loads(text), dtype=np.float64).astype(block.dtype)
        if back.shape != block.shape or not np.array_equal(_bits(back), _bits(block)):
            return None
    return text


# ---------------------------------------------------------------- slow path (numpy strings)


def _format_finite(values: np.ndarray) -> np.ndarray:
    """Shortest round-trip strings for finite floats of any float dtype."""
    dtype = values.dtype
    if dtype in (np.float16, np.float32, np.float64):
        strings = values.astype(str)
    else:  # bfloat16, float8: widen and find the shortest %g that reads back
        # wide enough for any %g form (%.2g of 100.0 is '1e+02', longer than %.17g's '100')
        strings = np.char.mod("%.17g", values.astype(np.float64)).astype("U32")
        wide = values.astype(np.float64)
        todo = np.arange(values.size)
        for digits in range(1, 18):
            if not todo.size:
                break
            trial = np.char.mod(f"%.{digits}g", wide[todo])
            ok = _bits(_parse_float_strings(trial, dtype)) == _bits(values[todo])
            strings[todo[ok]] = trial[ok]
            todo = todo[~ok]
        # '%g' writes integers bare ('-0', '3'); JSON would read them as ints and lose -0.0
        bare = (np.char.find(strings, ".") < 0) & (np.char.find(strings, "e") < 0)
        strings[bare] = np.char.add(strings[bare], ".0")
    bad = _bits(_parse_float_strings(strings, dtype)) != _bits(values)
    if bad.any():  # never seen; %.17g of the widened value is always exact
        strings = strings.astype(object)
        strings[bad] = np.char.mod("%.17g", values[bad].astype(np.float64))
    return strings


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


def _slow_strings(flat: np.ndarray, tokens: dict[str, str]) -> list[str]:
    """Every value of a 1-D block as exact text (numpy formatting, tokens for NaN/Inf)."""
    if flat.dtype == np.bool_:
        return np.where(flat, "true", "false").tolist()
    if flat.dtype.kind in "iu":
        return flat.astype(str).tolist()
    if not is_float(flat.dtype):
        raise InputError(f"cannot write dtype {flat.dtype} as text")
    finite = np.isfinite(flat)
    if flat.dtype in _ORJSON_FLOATS and not finite.all():  # orjson for the finite ones
        patched = np.where(finite, flat, 0).astype(flat.dtype)
        text = _fast_json(patched)
        if text is not None:
            out = text[1:-1].decode().split(",") if flat.size else []
            for index in np.flatnonzero(~finite):
                out[index] = _special(flat[index], tokens)
            return out
    out = np.empty(flat.size, dtype=object)
    if finite.any():
        out[finite] = _format_finite(flat[finite])
    if not finite.all():
        out[~finite] = [_special(v, tokens) for v in flat[~finite]]
    return out.tolist()


def format_flat(array: np.ndarray, tokens: dict[str, str]) -> list[str]:
    """Every value of array in C order as exact text (see the module docstring).

    Builds one Python string per value: for small arrays and tests; writers use the block
    functions below, which never do.
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype.byteorder == ">":
        flat = flat.astype(flat.dtype.newbyteorder("<"))
    out: list[str] = []
    for start in range(0, flat.size, CHUNK_VALUES):
        block = flat[start : start + CHUNK_VALUES]
        text = _fast_json(block) if _fast_ok(block) else None
        if text is not None:
            out.extend(text[1:-1].decode().split(",") if block.size else [])
        else:
            out.extend(_slow_strings(block, tokens))
    return out


# ---------------------------------------------------------------- blocks for the writers


def _quote_tokens(strings: list[str]) -> list[str]:
    """NaN/Infinity tokens are JSON strings, numbers stay bare."""
    return [s if s[0] in "-0123456789tf" and s != "-Infinity" else f'"{s}"' for s in strings]


def nested_text(strings: list[str], shape: tuple[int, ...]) -> str:
    """C-order value strings as nested JSON arrays of the given shape."""
    if not shape:
        return strings[0]
    if 0 in shape:
        inner = nested_text([], shape[1:]) if shape[0] and len(shape) > 1 else None
        return "[" + ",".join([inner] * shape[0]) + "]" if inner else "[]"
    rows = strings
    for size in reversed(shape):
        rows = ["[" + ",".join(rows[i : i + size]) + "]" for i in range(0, len(rows), size)]
    return rows[0]


def _native(block: np.ndarray) -> np.ndarray:
    block = block if block.flags.c_contiguous else np.array(block, order="C")  # keeps 0-d
    return block.astype(block.dtype.newbyteorder("<")) if block.dtype.byteorder == ">" else block


def json_block(block: np.ndarray) -> bytes:
    """Exact JSON text (nested arrays) of a block of at most about CHUNK_VALUES values."""
    block = _native(block)
    if _fast_ok(block):
        text = _fast_json(block)
        if text is not None:
            return text
    strings = _quote_tokens(_slow_strings(block.reshape(-1), JSON_TOKENS))
    return nested_text(strings, tuple(block.shape)).encode()


def csv_rows(block: np.ndarray) -> bytes:
    """Exact CSV text of a 2-D block: one line per row, values separated by commas."""
    block = _native(block)
    rows, width = block.shape
    if rows == 0:
        return b""
    if width == 0:
        return b"\n" * rows
    if _fast_ok(block):
        if width == 1:  # a column: one flat list, commas become newlines
            text = _fast_json(block.reshape(-1))
            if text is not None:
                return text[1:-1].replace(b",", b"\n") + b"\n"
        else:
            text = _fast_json(block)
            if text is not None:
                return text[2:-2].replace(b"],[", b"\n") + b"\n"
    strings = _slow_strings(block.reshape(-1), CSV_TOKENS)
    lines = [",".join(strings[i : i + width]) for i in range(0, len(strings), width)]
    return ("\n".join(lines) + "\n").encode()


def csv_values(flat: np.ndarray) -> list[str]:
    """Exact CSV value strings of a 1-D block (for the long table, which needs them one by one)."""
    return format_flat(flat, CSV_TOKENS)


# ---------------------------------------------------------------- parsing


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
        bits = np.array([int(token[6:], 16)], dtype=unsigned(np.dtype(dtype).itemsize))
        return bits.view(dtype)[0]
    if token.startswith("nan"):
        if token != "nan":
            raise ValueError(f"bad NaN token {token!r}")
        return np.array(np.nan, dtype=dtype)
    return np.array(-np.inf if token.startswith("-") else np.inf, dtype=dtype)
