"""Zip archives (.npz, .keras, .skops) are checked from their headers before anything is inflated."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, UnsafeInputError

MAX_RATIO = 200  # inflated/compressed size above this (for members over 1 MiB) is a bomb
MIN_CHECKED = 1 << 20


def open_zip(path: Path) -> zipfile.ZipFile:
    """Open a zip archive after checking every member's declared size and compression ratio."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path}: damaged zip archive ({exc})") from None
    try:
        check_members(archive, path)
    except BaseException:
        archive.close()
        raise
    return archive


def check_members(archive: zipfile.ZipFile, path: Path) -> None:
    """Refuse zip bombs, encrypted members and unsafe member names."""
    file_size = path.stat().st_size
    total = 0
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            raise UnsafeInputError(f"{path}: member {info.filename!r} is encrypted")
        name = info.filename
        if name.startswith("/") or "\x00" in name or ".." in name.split("/"):
            raise UnsafeInputError(f"{path}: unsafe member name {name!r}")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise InputError(f"{path}: member {name!r} has inconsistent sizes")
        if info.compress_size > file_size:
            raise InputError(f"{path}: member {name!r} is larger than the archive (truncated?)")
        if info.file_size > MIN_CHECKED and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeInputError(
                f"{path}: member {name!r} would inflate {info.compress_size} bytes to "
                f"{info.file_size} (ratio over {MAX_RATIO}); refusing a possible zip bomb"
            )
        total += info.file_size
    if total > MAX_RATIO * max(file_size, 1) and total > MIN_CHECKED:
        raise UnsafeInputError(f"{path}: archive would inflate to {total} bytes; refusing")


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


def stored_member_range(path: Path, member: str) -> tuple[int, int] | None:
    """(offset, size) of a zip member's bytes when it is stored uncompressed, else None."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    with open(path, "rb") as handle:
        try:
            return stored_range(handle, info, path.stat().st_size)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
