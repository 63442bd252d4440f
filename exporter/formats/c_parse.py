"""Parsing the C literals c_text writes, strictly and vectorised: exactly the forms written
(hex floats, ±INFINITY, hex integers with a sign column, INTn_MIN), turned into the bits a C
compiler gives them; anything else is refused, naming the value. See c_text for the forms."""

from __future__ import annotations

import numpy as np

from exporter.core.dtypes import unsigned
from exporter.core.errors import InputError
from exporter.formats.c_text import (
    BLOCK_VALUES,
    C_ITEMSIZE,
    MIN_MACROS,
    numpy_type,
    per_line,
    record_width,
)

_HEXVAL = np.full(256, 255, np.uint8)
_HEXVAL[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)

_WHITESPACE = b" \t\r\n\f\v"


def parse_body(body: bytes, ctype: str, count: int, where: str) -> np.ndarray:
    """The values of an array body (the text between its braces) as the numbers C stores: a
    flat array of count values of the C type (float32/float64 or the integer type).

    Text laid out exactly as format_block lays it out is parsed as fixed-width records (no
    search for the commas); any other layout of the same literals (re-indented, re-wrapped) by
    the general path, which drops the whitespace and splits at the commas."""
    layout = _fixed_layout(body, ctype, count)
    if layout is None:
        return _parse_compact(body, ctype, count, where)
    lines, tail = layout
    width, per = record_width(ctype), per_line(ctype)
    out = np.empty(count, numpy_type(ctype))
    step = max(1, BLOCK_VALUES // per)
    for first in range(0, lines.shape[0], step):  # whole lines, a block at a time
        block = lines[first : first + step, :-1].reshape(-1, width)
        out[first * per : first * per + block.shape[0]] = _parse_records(block, ctype, where)
    if tail.size:
        out[lines.shape[0] * per :] = _parse_records(tail[:-1].reshape(-1, width), ctype, where)
    return out


def _fixed_layout(body: bytes, ctype: str, count: int):
    """(full lines, last partial line) as uint8 arrays when body has exactly format_block's
    layout (fixed-width records, per_line a line, each line ending in a newline), else None."""
    width, per = record_width(ctype), per_line(ctype)
    full, rest = divmod(count, per)
    if not count or len(body) != count * width + full + (rest > 0):
        return None
    data = np.frombuffer(body, np.uint8)
    lines = data[: full * (per * width + 1)].reshape(full, per * width + 1)
    tail = data[full * (per * width + 1) :]
    if (lines[:, -1] != ord("\n")).any() or (rest and tail[-1] != ord("\n")):
        return None
    return lines, tail


def _parse_records(records: np.ndarray, ctype: str, where: str) -> np.ndarray:
    """Fixed-width records: [spaces][sign or space]<literal>, — the rare others (macros,
    anything unexpected) through the general path, which parses or refuses them."""
    pad = 0 if ctype in ("float", "double") else records.shape[1] - (4 + 2 * C_ITEMSIZE[ctype])
    sign = records[:, pad]
    negative = sign == ord("-")
    core = np.zeros((records.shape[0], records.shape[1] - pad - 1), np.uint8)
    core[:, :-1] = records[:, pad + 1 : -1]
    if ctype in ("float", "double"):
        values, ok = _parse_floats(core, negative, ctype)
    else:
        values, ok = _parse_ints(core, negative, ctype)
    ok &= (negative | (sign == ord(" "))) & (records[:, -1] == ord(","))
    ok &= (records[:, :pad] == ord(" ")).all(axis=1)
    values = values.astype(numpy_type(ctype))
    if not ok.all():
        odd = np.flatnonzero(~ok)
        text = records[odd].tobytes()
        values[odd] = _parse_compact(text, ctype, odd.size, where)
    return values


def _parse_compact(body: bytes, ctype: str, count: int, where: str) -> np.ndarray:
    """The general path: whitespace dropped, values split at their commas."""
    compact = body.translate(None, _WHITESPACE)
    data = np.frombuffer(compact, np.uint8)
    commas = np.flatnonzero(data == ord(","))
    if commas.size != count or (count and commas[-1] != data.size - 1) or (not count and data.size):
        raise InputError(
            f"{where}: holds {commas.size} comma-terminated values, its declaration says {count}"
        )
    starts = np.concatenate(([0], commas[:-1] + 1)) if count else commas
    out = np.empty(count, numpy_type(ctype))
    for start in range(0, count, BLOCK_VALUES):
        stop = min(count, start + BLOCK_VALUES)
        tokens = _token_matrix(data, starts[start:stop], commas[start:stop])
        out[start:stop] = _parse_tokens(tokens, ctype, where)
    return out


def _token_matrix(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(n, longest + 1) bytes of each token, zero-padded (a zero column always ends a token)."""
    lengths = ends - starts
    longest = int(lengths.max()) if lengths.size else 0
    if longest > 32:
        raise InputError(f"a value of {longest} characters is longer than any C literal written")
    columns = np.arange(longest + 1)
    index = np.minimum(starts[:, None] + columns, data.size - 1)
    return np.where(columns < lengths[:, None], data[index], 0).astype(np.uint8)


def _parse_tokens(tokens: np.ndarray, ctype: str, where: str) -> np.ndarray:
    negative = tokens[:, 0] == ord("-")
    core = np.where(negative[:, None], tokens[:, 1:], tokens[:, :-1])
    if ctype in ("float", "double"):
        values, ok = _parse_floats(core, negative, ctype)
    else:
        values, ok = _parse_ints(core, negative, ctype)
    if not ok.all():
        values, ok = _specials(tokens, ctype, values, ok)
    if not ok.all():
        bad = bytes(tokens[int(np.flatnonzero(~ok)[0])]).rstrip(b"\0").decode("ascii", "replace")
        raise InputError(f"{where}: {bad[:40]!r} is not a {ctype} literal as exporter writes it")
    return values


def _fixed(core: np.ndarray, text: bytes, at: int) -> np.ndarray:
    return (core[:, at : at + len(text)] == np.frombuffer(text, np.uint8)).all(axis=1)


def _hex_value(core: np.ndarray, start: int, digits: int) -> tuple[np.ndarray, np.ndarray]:
    nibbles = _HEXVAL[core[:, start : start + digits]]
    ok = (nibbles != 255).all(axis=1)
    value = np.zeros(core.shape[0], np.uint64)
    for column in range(digits):
        value = (value << np.uint64(4)) | nibbles[:, column].astype(np.uint64)
    return value, ok


def _decimal(core: np.ndarray, start: int, digits: int) -> tuple[np.ndarray, np.ndarray]:
    part = core[:, start : start + digits].astype(np.int64) - ord("0")
    ok = ((part >= 0) & (part <= 9)).all(axis=1)
    return (part * 10 ** np.arange(digits - 1, -1, -1)).sum(axis=1), ok


def _parse_floats(core: np.ndarray, negative: np.ndarray, ctype: str):
    """`0x[01].<hex>p[+-]<dec>` (+ `f` for float): the value a C compiler gives the constant."""
    single = ctype == "float"
    hexes, edigits = (6, 3) if single else (13, 4)
    length = 6 + hexes + edigits + single
    if core.shape[1] < length:
        return np.zeros(core.shape[0]), np.zeros(core.shape[0], bool)
    ok = _fixed(core, b"0x", 0) & (core[:, 3] == ord(".")) & (core[:, 4 + hexes] == ord("p"))
    ok &= (core[:, 2] == ord("0")) | (core[:, 2] == ord("1"))
    ok &= (core[:, length:] == 0).all(axis=1)
    if single:
        ok &= core[:, length - 1] == ord("f")
    fraction, good = _hex_value(core, 4, hexes)
    sign_at = 5 + hexes
    magnitude, good_exp = _decimal(core, sign_at + 1, edigits)
    signs = core[:, sign_at]
    ok &= good & good_exp & ((signs == ord("+")) | (signs == ord("-")))
    exponent = np.where(signs == ord("-"), -magnitude, magnitude)
    bits = 4 * hexes
    lead = (core[:, 2] == ord("1")).astype(np.uint64) << np.uint64(bits)
    with np.errstate(over="ignore", invalid="ignore"):
        exponent = np.clip(exponent, -2000, 2000) - bits
        wide = np.ldexp((lead | fraction).astype(np.float64), exponent.astype(np.int32))
        values = wide.astype(np.float32 if single else np.float64)
    ok &= np.isfinite(values)  # a constant out of range: the compiler would refuse it too
    return np.where(negative, -values, values), ok


def _parse_ints(core: np.ndarray, negative: np.ndarray, ctype: str):
    """`0x<2*size hex digits>`, a leading `-` only for signed types, in range."""
    size = C_ITEMSIZE[ctype]
    digits, signed = 2 * size, ctype.startswith("int")
    if core.shape[1] < 2 + digits:
        return np.zeros(core.shape[0], numpy_type(ctype)), np.zeros(core.shape[0], bool)
    ok = _fixed(core, b"0x", 0) & (core[:, 2 + digits :] == 0).all(axis=1)
    magnitude, good = _hex_value(core, 2, digits)
    ok &= good
    if signed:
        limit = np.uint64(1 << (8 * size - 1))
        ok &= np.where(negative, magnitude <= limit, magnitude < limit)
    else:
        ok &= ~negative
    values = np.where(negative, np.uint64(0) - magnitude, magnitude)
    return values.astype(unsigned(size)).view(numpy_type(ctype)), ok


def _specials(tokens: np.ndarray, ctype: str, values: np.ndarray, ok: np.ndarray):
    """The macro forms: ±INFINITY for floats, INTn_MIN for signed integers."""
    if ctype in ("float", "double"):
        table = {b"INFINITY": np.inf, b"-INFINITY": -np.inf}
    elif ctype.startswith("int") and C_ITEMSIZE[ctype] in MIN_MACROS:
        table = {MIN_MACROS[C_ITEMSIZE[ctype]]: np.iinfo(numpy_type(ctype)).min}
    else:
        return values, ok
    values = values.copy()
    for text, value in table.items():
        padded = np.zeros(tokens.shape[1], np.uint8)
        if len(text) >= tokens.shape[1]:
            continue
        padded[: len(text)] = np.frombuffer(text, np.uint8)
        match = (tokens == padded).all(axis=1) & ~ok
        values[match] = value
        ok = ok | match
    return values, ok
