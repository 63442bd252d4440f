"""A small bounded UBJSON decoder, for XGBoost's `.ubj` models (no library).

Decodes objects, arrays, strings and numbers into what json.loads gives, except that typed
numeric arrays (`[$<type>#<count>`, how XGBoost writes its node arrays) become numpy arrays of
that type, taken as they are stored (float32 stays float32). Every count is checked against the
bytes left before anything is allocated, nesting is bounded, and anything else (high-precision
numbers, typed objects, bad UTF-8, trailing bytes) is one InputError naming the file.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from exporter.core.errors import InputError

MAX_DEPTH = 64
_NUMBERS = {
    b"i": np.dtype("i1"), b"U": np.dtype("u1"), b"I": np.dtype(">i2"), b"l": np.dtype(">i4"),
    b"L": np.dtype(">i8"), b"d": np.dtype(">f4"), b"D": np.dtype(">f8"),
}  # fmt: skip
_CONSTANTS = {b"T": True, b"F": False, b"Z": None}


class Decoder:
    def __init__(self, data: bytes, where: str):
        self.data, self.where, self.pos = memoryview(data), where, 0

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.where}: not a valid UBJSON model ({what} at byte {self.pos})")

    def take(self, count: int) -> memoryview:
        if count < 0 or count > len(self.data) - self.pos:
            raise self.fail(f"{count:,} bytes needed, the file ends first")
        piece = self.data[self.pos : self.pos + count]
        self.pos += count
        return piece

    def marker(self) -> bytes:
        marker = bytes(self.take(1))
        while marker == b"N":  # no-op
            marker = bytes(self.take(1))
        return marker

    def number(self, marker: bytes) -> int | float:
        dtype = _NUMBERS[marker]
        value = np.frombuffer(self.take(dtype.itemsize), dtype)[0]
        return float(value) if dtype.kind == "f" else int(value)

    def count(self, marker: bytes | None = None) -> int:
        marker = marker or self.marker()
        if marker not in _NUMBERS or _NUMBERS[marker].kind == "f":
            raise self.fail(f"a length of type {marker!r}")
        value = self.number(marker)
        if value < 0 or value > len(self.data) - self.pos:
            raise self.fail(f"a length of {value:,}, more than the bytes left")
        return int(value)

    def string(self) -> str:
        try:
            return str(self.take(self.count()), "utf-8")
        except UnicodeDecodeError:
            raise self.fail("a string that is not UTF-8") from None

    def value(self, marker: bytes, depth: int) -> Any:
        if marker in _NUMBERS:
            return self.number(marker)
        if marker in _CONSTANTS:
            return _CONSTANTS[marker]
        if marker in (b"S", b"C"):
            return self.string() if marker == b"S" else str(self.take(1), "latin-1")
        if depth >= MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH}")
        if marker == b"{":
            return self.object(depth + 1)
        if marker == b"[":
            return self.array(depth + 1)
        raise self.fail(f"an unknown marker {marker!r}")

    def object(self, depth: int) -> dict:
        found: dict[str, Any] = {}
        while True:
            marker = self.marker()
            if marker == b"}":
                return found
            if marker in (b"$", b"#"):
                raise self.fail("a typed or counted object")
            key = self._key(marker)
            found[key] = self.value(self.marker(), depth)

    def _key(self, marker: bytes) -> str:
        length = self.count(marker)
        try:
            return str(self.take(length), "utf-8")
        except UnicodeDecodeError:
            raise self.fail("a key that is not UTF-8") from None

    def array(self, depth: int) -> list | np.ndarray:
        marker = self.marker()
        if marker == b"$":
            kind = self.marker()
            if self.marker() != b"#" or kind not in _NUMBERS:
                raise self.fail(f"a typed array of {kind!r}")
            dtype = _NUMBERS[kind]
            size = self.count()
            raw = self.take(size * dtype.itemsize)  # checked against the bytes left first
            return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("="))
        if marker == b"#":
            return [self.value(self.marker(), depth) for _ in range(self.count())]
        items = []
        while marker != b"]":
            items.append(self.value(marker, depth))
            marker = self.marker()
        return items


def loads(data: bytes, where: str) -> Any:
    """The document in data (one value, nothing after it)."""
    decoder = Decoder(data, where)
    try:
        document = decoder.value(decoder.marker(), 0)
    except struct.error as exc:  # pragma: no cover - take() bounds every read
        raise decoder.fail(str(exc)) from None
    if decoder.pos != len(data):
        raise decoder.fail(f"{len(data) - decoder.pos:,} bytes after the model")
    return document
