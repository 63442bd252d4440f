"""C literals for tensor values, written and parsed with numpy, exact by construction.

Every value becomes one fixed-width record (padded with spaces, which C ignores), built column
by column from lookup tables, so formatting is a handful of vectorised numpy operations per
block and no Python string is made per value:

- float32 / float64 as hexadecimal floating constants (C99, C++17): `-0x1.921fb6p+001f`. A hex
  float names its binary value exactly, so the compiler produces the very bits (no decimal
  rounding to trust). ±Inf are `INFINITY` / `-INFINITY` (<math.h>; infinity has one bit pattern).
  C has no portable constant for a NaN with a given payload (`NAN` is quiet NaN of unspecified
  sign and payload: MSVC's is negative), so a float tensor holding any NaN is written whole as
  its bit patterns (`uint32_t` / `uint64_t`) — see `c_type`.
- integers in hexadecimal of their magnitude with a sign column (`-0x7f`); the minimum of int16,
  int32 and int64 as INT16_MIN / INT32_MIN / INT64_MIN (its magnitude is no signed constant).
- bool, float16, bfloat16 and float8 as the unsigned bit patterns of their width.

A big tensor's blocks are formatted by two threads ahead of the writer (blocks()): 10M float32
format in about 0.09 s instead of 0.115 s on 2 cores; bench/c_header.py measures the whole export.
c_parse.py accepts exactly these forms (strict: anything else is refused, naming the value) and
turns them into the bits a C compiler would produce, vectorised the same way.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from exporter.core.dtypes import unsigned

BLOCK_VALUES = 1 << 16  # values formatted (or parsed) at once
LINE_CHARS = 100  # records per line: as many as fit in this width

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
HEX2 = np.stack([_HEX[np.arange(256) >> 4], _HEX[np.arange(256) & 15]], axis=1)  # byte -> 2 chars

# C element type of each manifest dtype; a float tensor with a NaN uses BITS_TYPE instead.
C_TYPES = {
    "bool": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
    "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t",
    "uint64": "uint64_t", "float16": "uint16_t", "bfloat16": "uint16_t", "float32": "float",
    "float64": "double", "float8_e4m3fn": "uint8_t", "float8_e5m2": "uint8_t",
}  # fmt: skip
BITS_TYPE = {"float32": "uint32_t", "float64": "uint64_t"}
C_ITEMSIZE = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4, "uint64_t": 8, "int8_t": 1,
              "int16_t": 2, "int32_t": 4, "int64_t": 8, "float": 4, "double": 8}  # fmt: skip
MIN_MACROS = {2: b"INT16_MIN", 4: b"INT32_MIN", 8: b"INT64_MIN"}


def c_type(dtype_name: str, array: np.ndarray) -> str:
    """The C element type a tensor is written as (bit patterns for a float tensor with a NaN)."""
    if dtype_name in BITS_TYPE and array.size and bool(np.isnan(array).any()):
        return BITS_TYPE[dtype_name]
    return C_TYPES[dtype_name]


def record_width(ctype: str) -> int:
    """Characters per value record, the trailing comma included."""
    if ctype == "float":
        return 18  # `-0x1.xxxxxxp+eeef,`
    if ctype == "double":
        return 25  # `-0x1.xxxxxxxxxxxxxp+eeee,`
    size = C_ITEMSIZE[ctype]
    width = 4 + 2 * size  # `-0x` + digits + `,`
    return max(width, 10) if ctype.startswith("int") and size > 1 else width


def per_line(ctype: str) -> int:
    return max(1, LINE_CHARS // record_width(ctype))


# ---------------------------------------------------------------- formatting


_HEX16 = HEX2.copy().view("<u2").reshape(256)  # byte -> its 2 hex chars as one little-endian word


def _hex_bytes(values: np.ndarray, nbytes: int) -> np.ndarray:
    """(..., 2*nbytes) ASCII hex digits of the low nbytes of unsigned values, most significant first."""
    raw = values.view(np.uint8).reshape(*values.shape, values.itemsize)[..., nbytes - 1 :: -1]
    return _HEX16[raw].view(np.uint8)


def _word(text: bytes) -> int:
    return int.from_bytes(text, "little")


def _words(texts, shift: int = 0) -> np.ndarray:
    return np.array([_word(text) << shift for text in texts], np.uint64)


def _head(top: int, exp_bits: int) -> bytes:
    """`s0xL.` for the sign and biased exponent in top (L: 0 for zero and subnormals)."""
    sign, biased = top >> exp_bits, top & ((1 << exp_bits) - 1)
    return (b"-" if sign else b" ") + b"0x" + (b"1" if biased else b"0") + b"."


def _exponent(top: int, exp_bits: int) -> bytes:
    """`p+eee` (float32) / `p+eeee` (float64) of the biased exponent in top."""
    bias = (1 << (exp_bits - 1)) - 1
    exponent = max((top & ((1 << exp_bits) - 1)) - bias, 1 - bias)
    return f"p{exponent:+0{4 if exp_bits == 8 else 5}d}".encode()


# Tables indexed by the top bits of a float (sign and biased exponent), or by 12/16 fraction
# bits, giving the record's bytes as little-endian words already shifted into place: a record
# is then a few table look-ups ORed together (see bench/c_header.py for what that buys).
_HEAD32 = _words(_head(t, 8) for t in range(512))
_EXP32 = _words((_exponent(t, 8) for t in range(512)), 24)
_ZERO32 = np.uint64(_word(b"000p+000"))
_HEX4 = _HEX16[np.arange(65536) >> 8].astype(np.uint32) | (
    _HEX16[np.arange(65536) & 255].astype(np.uint32) << 16
)  # 16 bits -> 4 hex chars, little-endian word
_HEX3 = (_HEX4[np.arange(4096)] >> 8).astype(np.uint64)  # 12 bits -> 3 hex chars
_HEX3_HIGH = _HEX3 << np.uint64(40)
_ZERO64 = np.uint64(_word(b"00p+0000"))
_F32 = np.dtype({"names": ["a", "b", "c"], "formats": ["<u8", "<u8", "<u2"],
                 "offsets": [0, 8, 16], "itemsize": 18})  # fmt: skip
_F64 = np.dtype({"names": ["a", "b", "c", "d"], "formats": ["<u8", "<u8", "<u8", "u1"],
                 "offsets": [0, 8, 16, 24], "itemsize": 25})  # fmt: skip
_S = np.uint64


def _float32_records(values: np.ndarray, out: np.ndarray) -> None:
    """Records `s0xL.hhhhhhp+eeef,` (18 bytes): two 8-byte words and `f,`."""
    bits = values.view(np.uint32)
    top = bits >> 23
    words = out.view(_F32)[..., 0]
    words["a"] = _HEAD32[top] | _HEX3_HIGH[(bits >> 11) & 0xFFF]
    words["b"] = _HEX3[(bits << 1) & 0xFFF] | _EXP32[top]
    words["c"] = _word(b"f,")
    zero = (bits << 1) == 0
    if zero.any():
        words["b"][zero] = _ZERO32


@cache
def _float64_tables() -> tuple[np.ndarray, np.ndarray]:
    """(heads, exponents) by the top 12 bits of a float64 (built on first use: 4096 rows)."""
    return _words(_head(t, 11) for t in range(4096)), _words(
        (_exponent(t, 11) for t in range(4096)), 16
    )


def _float64_records(values: np.ndarray, out: np.ndarray) -> None:
    """Records `s0xL.hhhhhhhhhhhhhp+eeee,` (25 bytes): three 8-byte words and `,`."""
    _HEAD64, _EXP64 = _float64_tables()
    bits = values.view(np.uint64)
    top = (bits >> _S(52)).astype(np.intp)
    words = out.view(_F64)[..., 0]
    nibble_and_byte = _HEX3[((bits >> _S(40)) & _S(0xFFF)).astype(np.intp)] << _S(40)
    words["a"] = _HEAD64[top] | nibble_and_byte
    high = _HEX4[((bits >> _S(24)) & _S(0xFFFF)).astype(np.intp)].astype(np.uint64)
    low = _HEX4[((bits >> _S(8)) & _S(0xFFFF)).astype(np.intp)].astype(np.uint64)
    words["b"] = high | (low << _S(32))
    words["c"] = _HEX16[(bits & _S(0xFF)).astype(np.intp)].astype(np.uint64) | _EXP64[top]
    words["d"] = ord(",")
    zero = (bits << _S(1)) == 0
    if zero.any():
        words["c"][zero] = _ZERO64


def _float_records(values: np.ndarray, out: np.ndarray) -> None:
    """Hex float records of finite or infinite float32/float64 values into out (..., width)."""
    if values.dtype.itemsize == 4:
        _float32_records(values, out)
    else:
        _float64_records(values, out)
    infinite = np.isinf(values)
    if infinite.any():
        for value, text in ((np.inf, b" INFINITY,"), (-np.inf, b"-INFINITY,")):
            out[values == value] = np.frombuffer(text.rjust(out.shape[-1]), np.uint8)


def _int_records(flat: np.ndarray, out: np.ndarray, signed: bool) -> None:
    """Hex integer records: a sign column (`-` or space), 0x and the magnitude's digits."""
    size = flat.dtype.itemsize
    magnitude = flat.view(unsigned(size)).copy()
    negative = flat < 0 if signed else np.zeros(flat.shape, bool)
    if signed:
        magnitude[negative] = 0 - magnitude[negative]  # two's complement, exact for the minimum
    pad = out.shape[-1] - (4 + 2 * size)
    out[..., :pad] = ord(" ")
    out[..., pad] = np.where(negative, ord("-"), ord(" "))
    out[..., pad + 1 : pad + 3] = np.frombuffer(b"0x", np.uint8)
    out[..., pad + 3 : -1] = _hex_bytes(magnitude, size)
    out[..., -1] = ord(",")
    if signed and size in MIN_MACROS:
        lowest = flat == np.iinfo(flat.dtype).min
        if lowest.any():
            text = (MIN_MACROS[size] + b",").rjust(out.shape[-1])
            out[lowest] = np.frombuffer(text, np.uint8)


def storage_view(array: np.ndarray, ctype: str) -> np.ndarray:
    """The flat array as the numbers the records hold (bit patterns viewed as unsigned)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if ctype in ("float", "double"):
        return flat
    size = C_ITEMSIZE[ctype]
    if flat.dtype.kind in "iu" and flat.dtype.itemsize == size:
        return flat
    return flat.view(unsigned(size))


def format_block(flat: np.ndarray, ctype: str) -> bytes:
    """The text of a block of values (storage_view'ed), per_line(ctype) records a line."""
    width, per, count = record_width(ctype), per_line(ctype), flat.size
    if not flat.size:
        return b""
    lines = -(-flat.size // per)
    if flat.size % per:
        flat = np.concatenate((flat, np.zeros(lines * per - flat.size, flat.dtype)))
    buffer = np.empty((lines, per * width + 1), np.uint8)
    buffer[:, -1] = ord("\n")
    records = buffer[:, :-1].reshape(lines, per, width)  # a view: the records of each line
    values = flat.reshape(lines, per)
    if ctype in ("float", "double"):
        _float_records(values, records)
    else:
        _int_records(values, records, ctype.startswith("int"))
    text = buffer.tobytes()
    missing = values.size - count
    if missing:  # the last line: drop the records that are only padding
        text = text[: -missing * width - 1] + b"\n"
    return text


def blocks(flat: np.ndarray, ctype: str):
    """The text of all values, in blocks of about BLOCK_VALUES values (whole lines), in order.

    A big tensor's blocks are formatted by FORMAT_THREADS threads, at most AHEAD blocks ahead
    of the one the caller is writing (numpy's loops and file writes release the GIL), so memory
    stays a few blocks of text."""
    step = per_line(ctype) * max(1, BLOCK_VALUES // per_line(ctype))
    starts = range(0, flat.size, step)
    if len(starts) < 4:
        for start in starts:
            yield format_block(flat[start : start + step], ctype)
        return
    pending: deque = deque()
    for start in starts:
        pending.append(_formatter().submit(format_block, flat[start : start + step], ctype))
        if len(pending) > AHEAD:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


FORMAT_THREADS = 2
AHEAD = 4
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _formatter() -> ThreadPoolExecutor:
    """One pool per process (a forked child must not use its parent's threads)."""
    pid = os.getpid()
    if pid not in _POOLS:
        _POOLS.clear()
        _POOLS[pid] = ThreadPoolExecutor(FORMAT_THREADS, thread_name_prefix="exporter-c-text")
    return _POOLS[pid]


def text_size(count: int, ctype: str) -> int:
    """The bytes blocks() writes for count values (an upper bound: the last line may be shorter)."""
    per, width = per_line(ctype), record_width(ctype)
    return count * width + -(-count // per)


def numpy_type(ctype: str) -> np.dtype:
    """The numpy dtype of a C element type."""
    if ctype in ("float", "double"):
        return np.dtype("<f4" if ctype == "float" else "<f8")
    return np.dtype(ctype.replace("_t", "")).newbyteorder("<")
