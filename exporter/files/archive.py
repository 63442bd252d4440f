"""Declared sizes are checked before anything is inflated, parsed or allocated.

- Zip archives (.npz, .keras, .skops) are checked from their headers: every member's declared
  size and compression ratio, and metadata members (`*.json`: manifest.json, config.json,
  metadata.json, skops schema.json; and `manifest.json.npy`, the NPZ manifest re-saved by numpy)
  against an absolute limit. Reads of a member stop at its declared size (zipfile), so a header
  that lies gives no more bytes than it declares.
- Metadata documents read from a member or a file are read through read_member/read_document,
  which never read more than the limit + 1 bytes.
- Tensor shapes declared by a file (HDF5 datasets, ONNX dims) are counted in Python integers
  by declared_nbytes, never numpy int64, which wraps to a small or zero size.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
import sys
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from exporter.core.errors import InputError, UnsafeInputError, UsageError
from exporter.files.inputs import CLOEXEC, NOCTTY, NONBLOCK, InputFile, as_input

MAX_RATIO = 200  # inflated/compressed size above this (for members over 1 MiB) is a bomb
MIN_CHECKED = 1 << 20

# The largest metadata document read. Measured (Keras 3.15, skops 0.16, sklearn 1.9): config.json
# of keras.applications ResNet152 0.5 MB, EfficientNetB7 0.76 MB, NASNetLarge 1.0 MB; skops
# schema.json of RandomForestClassifier(n_estimators=500) 7.7 MB, GradientBoostingClassifier
# (3 classes x 500 estimators = 1500 trees) 31.3 MB (about 21 kB a tree: bigger ensembles need
# EXPORTER_MAX_METADATA_BYTES). Python's json makes objects of up to ~24x the text (`{},`), and
# the config and schema audits walk them: a 28 MiB document was read in a 2 GiB address space,
# a 44 MiB one was not (MemoryError). So the limit is 32 MiB.
MAX_METADATA_BYTES = 32 << 20
METADATA_ENV = "EXPORTER_MAX_METADATA_BYTES"


def metadata_limit() -> int:
    """The largest metadata document (manifest, config, schema) exporter reads, in bytes:
    MAX_METADATA_BYTES, or the EXPORTER_MAX_METADATA_BYTES environment variable when set."""
    text = os.environ.get(METADATA_ENV, "").strip()
    if not text:
        return MAX_METADATA_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{METADATA_ENV}={text!r} is not a positive number of bytes")
    return value


def is_metadata(name: str) -> bool:
    """Whether an archive member is a metadata document (JSON, or JSON re-saved as .npy)."""
    lowered = name.lower()
    return lowered.endswith(".json") or lowered.endswith(".json.npy")


def _too_big(where: str, size: int, limit: int, verb: str = "declares") -> UnsafeInputError:
    return UnsafeInputError(
        f"{where} {verb} {size:,} bytes, more than the {limit:,}-byte limit for a metadata "
        f"document; refused (set {METADATA_ENV} to raise the limit if the file is trusted)"
    )


def open_zip(source: InputFile | str | os.PathLike) -> zipfile.ZipFile:
    """Open a zip archive after checking every member's declared size and compression ratio.

    The archive is read through the input's checked descriptor (safe_open.InputFile; a path is
    opened as one first), so it is the very file that was checked and a FIFO never blocks."""
    source = as_input(source, folder=False)
    path = source.path
    try:
        archive = zipfile.ZipFile(source.reader())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path}: damaged zip archive ({exc})") from None
    try:
        check_members(archive, path)
    except BaseException:
        archive.close()
        raise
    return archive


def _archive_size(archive: zipfile.ZipFile) -> int:
    """The size of the file the archive reads (its own descriptor, never a path)."""
    handle = archive.fp
    try:
        return os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        position = handle.tell()
        try:
            return handle.seek(0, io.SEEK_END)
        finally:
            handle.seek(position)


def check_members(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse zip bombs, oversized metadata, encrypted members and unsafe member names."""
    file_size = _archive_size(archive)
    limit = metadata_limit()
    total = 0
    for info in archive.infolist():
        _check_member(info, path, file_size, limit)
        total += info.file_size
    if total > MAX_RATIO * max(file_size, 1) and total > MIN_CHECKED:
        raise UnsafeInputError(f"{path}: archive would inflate to {total} bytes; refusing")


def _check_member(info: zipfile.ZipInfo, path: Path, file_size: int, limit: int) -> None:
    """One member's header: flags, name, sizes, ratio and the metadata limit."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise UnsafeInputError(f"{path}: member {name!r} is encrypted")
    # zipfile cuts `filename` at a NUL; the name as stored is `orig_filename`.
    stored = getattr(info, "orig_filename", name)
    if name.startswith("/") or "\x00" in stored or ".." in name.split("/"):
        raise UnsafeInputError(f"{path}: unsafe member name {stored!r}")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        raise InputError(f"{path}: member {name!r} has inconsistent sizes")
    if info.compress_size > file_size:
        raise InputError(f"{path}: member {name!r} is larger than the archive (truncated?)")
    if info.file_size > MIN_CHECKED and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise UnsafeInputError(
            f"{path}: member {name!r} would inflate {info.compress_size} bytes to "
            f"{info.file_size} (ratio over {MAX_RATIO}); refusing a possible zip bomb"
        )
    if is_metadata(name) and info.file_size > limit:
        raise _too_big(f"{path}: member {name!r}", info.file_size, limit)


def read_member(archive: zipfile.ZipFile, member: str, where: str) -> bytes:
    """The bytes of a metadata member, reading at most the metadata limit + 1 bytes.

    Reads stop at the member's declared size too, and a member whose data does not match
    its header (a lying size, a bad CRC) is InputError.
    """
    limit = metadata_limit()
    try:
        with archive.open(member) as handle:
            data = handle.read(limit + 1)
    except KeyError:
        raise InputError(f"{where}: the archive has no member {member!r}") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise InputError(f"{where}: member {member!r} is damaged ({exc})") from None
    if len(data) > limit:
        raise _too_big(f"{where}: member {member!r}", len(data), limit, "holds at least")
    return data


def read_document(source: Path | int, where: str | None = None) -> bytes:
    """The bytes of a metadata file (a CSV export's manifest.json, a config.json), reading at
    most the metadata limit + 1 bytes whatever the file is (/dev/zero included). source is a
    path (opened without blocking; a FIFO or socket is refused) or an open descriptor."""
    limit = metadata_limit()
    where = where or str(source)
    try:
        if isinstance(source, int):
            data = _read_upto(source, limit + 1)
        else:
            fd = _open_document(source, where)
            try:
                data = _read_upto(fd, limit + 1)
            finally:
                os.close(fd)
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise _too_big(where, len(data), limit, "holds at least")
    return data


def _open_document(path: Path, where: str) -> int:
    """path opened without blocking; a FIFO or socket (which could block a read) refused."""
    fd = os.open(path, os.O_RDONLY | NONBLOCK | NOCTTY | CLOEXEC)
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        os.close(fd)
        raise InputError(f"{where}: not a regular file (a FIFO or socket); check the path")
    return fd


def _read_upto(fd: int, count: int) -> bytes:
    """At most count bytes from the start of fd (positioned reads; a device is read too)."""
    chunks, got = [], 0
    while got < count:
        try:
            chunk = os.pread(fd, count - got, got)
        except OSError as exc:
            if exc.errno != errno.ESPIPE:
                raise
            chunk = os.read(fd, count - got)  # a character device has no positions
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def parse_document(data: bytes, where: str) -> Any:
    """A JSON metadata document already bounded by the metadata limit, parsed; anything that
    is not valid JSON (bad UTF-8, bad syntax, nesting deeper than the parser allows) is one
    InputError line, never a RecursionError."""
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise InputError(f"{where}: not valid JSON ({reason})") from None


def declared_nbytes(shape: Iterable[int], itemsize: int, label: str) -> int:
    """Bytes of a tensor whose shape a file declares, counted in Python integers (numpy int64
    wraps: [2**32, 2**32, 16] gives 0). InputError naming label when a dimension is negative
    or the shape is larger than any array can be (numpy's limit, sys.maxsize bytes)."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise InputError(f"{label}: has a negative dimension {dims}; the file is damaged")
    if math.prod(max(d, 1) for d in dims) * max(itemsize, 1) > sys.maxsize:
        raise InputError(
            f"{label}: declares shape {dims}, more elements than any array can hold; "
            "the file is damaged or crafted"
        )
    return math.prod(dims) * itemsize


def stored_range(handle: BinaryIO, info: zipfile.ZipInfo, file_size: int) -> tuple[int, int] | None:
    """(offset, size) of a member's bytes in the open archive file when it is stored
    uncompressed (so it can be memory-mapped), else None."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        return None
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise InputError(f"damaged zip archive (bad local header of {info.filename})")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > file_size:
        raise InputError(f"damaged zip archive ({info.filename} runs past the end)")
    return start, info.file_size


def stored_member_range(source: InputFile, member: str) -> tuple[int, int] | None:
    """(offset, size) of a zip member's bytes in the opened input when it is stored
    uncompressed, else None."""
    with source.reader() as handle:
        with zipfile.ZipFile(handle) as archive:
            info = archive.getinfo(member)
        try:
            return stored_range(handle, info, source.size)
        except InputError as exc:
            raise InputError(f"{source.path}: {exc}") from None
