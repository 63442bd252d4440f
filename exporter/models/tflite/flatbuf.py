"""Bounded reading of a FlatBuffer (the `.tflite` container), for untrusted files.

The generated FlatBuffers accessors trust every offset they follow. Here every read is checked
against the buffer first: a table's vtable must lie inside the buffer and be well formed, a
field must lie inside its table, an offset must land inside the buffer, and a vector's length
times its element size must fit in what is left. Anything else is one InputError naming the
file and the place (a table path such as `subgraphs[0].tensors[3].shape`), never an IndexError,
a huge allocation or a read past the end.

Layout (flatbuffers.dev, "FlatBuffers internals"): little-endian throughout; the root is a
uoffset (u32) at byte 0; a table starts with an soffset (i32) back to its vtable; a vtable is
u16 vtable size, u16 table size, then one u16 offset per field (0: absent, default value);
offsets to tables, vectors and strings are u32 relative to where they are stored; a vector is
a u32 element count followed by the elements; a string is a vector of bytes plus a NUL.
"""

from __future__ import annotations

import struct

import numpy as np

from exporter.core.errors import InputError

_SCALARS = {"B": 1, "b": 1, "H": 2, "h": 2, "I": 4, "i": 4, "Q": 8, "q": 8, "f": 4, "d": 8}


class Buffer:
    """The bytes of one FlatBuffer (bytes, memoryview or mmap) with bounded reads."""

    def __init__(self, data, where: str):
        self.data = data
        self.size = len(data)
        self.where = where

    def fail(self, place: str, what: str) -> InputError:
        return InputError(
            f"{self.where}: {place}: {what}; the file is damaged or not a TFLite model"
        )

    def check(self, pos: int, length: int, place: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(
                place, f"bytes {pos}..{pos + length} lie outside the file ({self.size} bytes)"
            )

    def scalar(self, fmt: str, pos: int, place: str):
        self.check(pos, _SCALARS[fmt], place)
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def root(self) -> Table:
        return self.table(self.scalar("I", 0, "root offset"), "model")

    def table(self, pos: int, place: str) -> Table:
        """The table at pos, its vtable checked."""
        vtable = pos - self.scalar("i", pos, place)
        vt_size = self.scalar("H", vtable, f"{place} (vtable)")
        table_size = self.scalar("H", vtable + 2, f"{place} (vtable)")
        if vt_size < 4 or vt_size % 2 or table_size < 4:
            raise self.fail(place, f"malformed vtable (size {vt_size}, table size {table_size})")
        self.check(vtable, vt_size, f"{place} (vtable)")
        self.check(pos, table_size, place)
        return Table(self, pos, vtable, vt_size, table_size, place)


class Table:
    """One table of a Buffer: fields by their number in the schema (0, 1, ...)."""

    def __init__(self, buf: Buffer, pos: int, vtable: int, vt_size: int, size: int, place: str):
        self.buf, self.pos, self.vtable, self.vt_size, self.size = buf, pos, vtable, vt_size, size
        self.place = place

    def _field(self, number: int, width: int, name: str) -> int | None:
        """Where field number is stored (checked to lie inside the table), None when absent."""
        slot = 4 + 2 * number
        if slot + 2 > self.vt_size:
            return None
        offset = self.buf.scalar("H", self.vtable + slot, self.place)
        if offset == 0:
            return None
        if offset < 4 or offset + width > self.size:
            raise self.buf.fail(f"{self.place}.{name}", "field lies outside its table")
        return self.pos + offset

    def scalar(self, number: int, fmt: str, default, name: str):
        pos = self._field(number, _SCALARS[fmt], name)
        return default if pos is None else self.buf.scalar(fmt, pos, f"{self.place}.{name}")

    def _target(self, number: int, name: str) -> int | None:
        pos = self._field(number, 4, name)
        if pos is None:
            return None
        target = pos + self.buf.scalar("I", pos, f"{self.place}.{name}")
        self.buf.check(target, 4, f"{self.place}.{name}")
        return target

    def table(self, number: int, name: str) -> Table | None:
        target = self._target(number, name)
        return None if target is None else self.buf.table(target, f"{self.place}.{name}")

    def vector(self, number: int, item: int, name: str) -> tuple[int, int]:
        """(position of the first element, element count) of a vector field; (0, 0) when
        absent. The whole vector is checked to lie inside the buffer."""
        target = self._target(number, name)
        if target is None:
            return 0, 0
        count = self.buf.scalar("I", target, f"{self.place}.{name}")
        self.buf.check(target + 4, count * item, f"{self.place}.{name} ({count} elements)")
        return target + 4, count

    def array(self, number: int, dtype: str, name: str) -> np.ndarray:
        """A vector of scalars as a (copied) numpy array of the little-endian dtype."""
        dtype = np.dtype(dtype)
        start, count = self.vector(number, dtype.itemsize, name)
        return (
            np.frombuffer(self.buf.data, dtype, count, start).copy()
            if count
            else np.empty(0, dtype)
        )

    def string(self, number: int, name: str) -> str | None:
        start, count = self.vector(number, 1, name)
        if not start:
            return None
        try:
            return bytes(self.buf.data[start : start + count]).decode("utf-8")
        except UnicodeDecodeError:
            raise self.buf.fail(f"{self.place}.{name}", "text is not valid UTF-8") from None

    def tables(self, number: int, name: str) -> list[Table]:
        """A vector of tables, each checked."""
        start, count = self.vector(number, 4, name)
        found = []
        for i in range(count):
            element = start + 4 * i
            target = element + self.buf.scalar("I", element, f"{self.place}.{name}")
            found.append(self.buf.table(target, f"{self.place}.{name}[{i}]"))
        return found
