"""Opening the files of an input so that nothing outside it is read and nothing blocks.

Two entry points, both checking the OPENED descriptor with fstat before the first read:

- `open_input(path)`: the file or folder the user named. A symlink the user made is followed
  (it is the user's own argument), but what is opened must be a regular file or a folder; a FIFO
  or a device is refused. The open never blocks (O_NONBLOCK, cleared afterwards).
- `open_inside(folder_fd, location)`: a file of a multi-file input (a CSV export's manifest and
  data, ONNX external data), walked component by component from the folder's descriptor with
  O_NOFOLLOW (O_DIRECTORY for the folders on the way), so a symlink anywhere on the way, even
  one swapped in after a check, is refused instead of followed. The file must be a regular
  file; optionally with at most `max_links` hard links and the device and inode seen earlier.

`InputFile` holds the descriptor of the input for the whole command: the input is opened once,
and every later read of it (readers, libraries, hashing, Keras snapshots) goes through that
descriptor, a new open file of the same inode (`/proc/self/fd/N`), or `open_input(path,
expect=...)`, never through the path alone: a path swapped after the check (for a FIFO, a
device, another file) is never read.

`read_bounded` reads a whole descriptor, refusing more than a limit before anything is read.
Errors are exporter's own one-line InputError / UnsafeInputError naming the file.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import weakref
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from exporter.core.errors import InputError, UnsafeInputError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
NOCTTY = getattr(os, "O_NOCTTY", 0)
DIRECTORY = getattr(os, "O_DIRECTORY", 0)
FILE_FLAGS = os.O_RDONLY | NOFOLLOW | NONBLOCK | NOCTTY | CLOEXEC
FOLDER_FLAGS = os.O_RDONLY | NOFOLLOW | DIRECTORY | CLOEXEC
Identity = tuple[int, int]  # (st_dev, st_ino) of a file seen earlier


def identity(st: os.stat_result) -> Identity:
    """The (device, inode) pair that names one file while it is open."""
    return (st.st_dev, st.st_ino)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def _blocking(fd: int) -> None:
    """Clear O_NONBLOCK again (it was only there so that opening a FIFO cannot hang)."""
    if NONBLOCK:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~NONBLOCK)


def open_input(path: str | os.PathLike, *, folder: bool | None = None, expect=None) -> int:
    """A descriptor of the input the user named: a regular file or a folder, never a FIFO,
    device or socket (checked on the descriptor). folder=True/False demands one of the two;
    expect is an Identity the opened file must have (the file checked earlier)."""
    try:
        first = os.stat(path)  # no open of a device at all in the common case
        if not (stat.S_ISREG(first.st_mode) or stat.S_ISDIR(first.st_mode)):
            raise InputError(f"{path}: {_kind(first.st_mode)}, not a regular file or folder")
        fd = os.open(path, os.O_RDONLY | NONBLOCK | NOCTTY | CLOEXEC)
    except FileNotFoundError:
        hint = " (a broken symlink)" if os.path.islink(path) else ""
        raise InputError(f"{path}: no such file{hint}; check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    try:
        _check_input(os.fstat(fd), path, folder, expect)
        _blocking(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_input(st: os.stat_result, path, folder: bool | None, expect) -> None:
    is_dir = stat.S_ISDIR(st.st_mode)
    if not (is_dir or stat.S_ISREG(st.st_mode)):
        raise InputError(f"{path}: {_kind(st.st_mode)}, not a regular file or folder")
    if folder is not None and folder != is_dir:
        raise InputError(f"{path}: {'not ' if folder else ''}a folder; check the path")
    if expect is not None and identity(st) != tuple(expect):
        raise UnsafeInputError(f"{path}: the file was replaced while it was read; refused")


def relative_parts(location: str, where: str, what: str, inside: str) -> tuple[str, ...]:
    """The path segments of a location that is relative and stays inside its folder."""
    if "\x00" in location:
        raise UnsafeInputError(f"{where}: {what} {location!r} contains a NUL byte; refused")
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).anchor:
        raise UnsafeInputError(
            f"{where}: {what} {location!r} is absolute; refused (it must be a file inside {inside})"
        )
    if ".." in location.replace("\\", "/").split("/"):
        raise UnsafeInputError(f"{where}: {what} {location!r} leaves {inside} ('..'); refused")
    parts = tuple(s for s in location.split("/") if s not in ("", "."))
    if not parts:
        raise InputError(f"{where}: {what} {location!r} names no file")
    return parts


def open_inside(
    folder_fd: int, parts: tuple[str, ...], where: str, name: str, *,
    max_links: int | None = None, expect: Identity | None = None, missing: str = "is missing",
) -> int:  # fmt: skip
    """A descriptor of the regular file at parts below the folder folder_fd, opened without
    following any symlink on the way. name (what the file is, for messages) names it."""
    fd, opened = folder_fd, []
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            fd = _open_part(fd, part, last, where, name, missing)
            opened.append(fd)
        st = os.fstat(fd)
        _check_file(st, where, name, max_links, expect)
        _blocking(fd)
    except BaseException:
        for each in opened:
            os.close(each)
        raise
    for each in opened[:-1]:
        os.close(each)
    return fd


def _open_part(parent: int, part: str, last: bool, where: str, name: str, missing: str) -> int:
    try:
        return os.open(part, FILE_FLAGS if last else FOLDER_FLAGS, dir_fd=parent)
    except OSError as exc:
        code = exc.errno
        if code == errno.ENOTDIR and _is_link(parent, part):
            code = errno.ELOOP  # Linux checks O_DIRECTORY before O_NOFOLLOW
        if code == errno.ELOOP and last:
            raise UnsafeInputError(f"{where}: {name} is a symlink; refused") from None
        if code == errno.ELOOP:
            raise UnsafeInputError(
                f"{where}: {name} goes through a symlink ({part!r}); refused"
            ) from None
        if code == errno.ENOENT:
            raise InputError(f"{where}: {name} {missing}") from None
        if code == errno.ENOTDIR:
            raise InputError(f"{where}: {name}: {part!r} on the way is not a folder") from None
        if code == errno.ENXIO:  # a socket
            raise UnsafeInputError(f"{where}: {name} is not a regular file; refused") from None
        raise InputError(f"{where}: cannot open {name} ({exc.strerror or exc})") from None


def _is_link(parent: int, part: str) -> bool:
    """Whether part in the folder parent is a symlink (for the message only: the open that
    failed already refused it)."""
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_file(st: os.stat_result, where: str, name: str, max_links, expect) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeInputError(
            f"{where}: {name} is {_kind(st.st_mode)}, not a regular file; refused"
        )
    if max_links is not None and st.st_nlink > max_links:
        raise UnsafeInputError(
            f"{where}: {name} has {st.st_nlink} hard links, so it may be a file from outside "
            "the folder; refused (copy it to a plain file)"
        )
    if expect is not None and identity(st) != tuple(expect):
        raise UnsafeInputError(f"{where}: {name} was replaced after it was checked; refused")


def read_bounded(fd: int, limit: int, where: str) -> bytes:
    """All bytes of the regular file fd, refused before any read when it holds more than limit
    bytes (and if it grows past what fstat said while it is read)."""
    size = os.fstat(fd).st_size
    if size > limit:
        raise InputError(
            f"{where}: {size:,} bytes, more than the {limit:,} it can need; refused "
            "(the file is damaged or crafted)"
        )
    chunks, left = [], size
    while left > 0:
        chunk = os.pread(fd, min(left, 1 << 30), size - left)
        if not chunk:
            raise InputError(f"{where}: the file shrank while it was read")
        chunks.append(chunk)
        left -= len(chunk)
    if os.pread(fd, 1, size):
        raise InputError(f"{where}: the file grew while it was read; refused")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def fd_path(fd: int) -> str | None:
    """A path that opens the very file behind fd (/proc/self/fd/N on Linux, /dev/fd/N
    elsewhere), for libraries that take only a path: what they open is what was checked,
    whatever the input's path shows now. None where there is no such path."""
    for path in (f"/proc/self/fd/{fd}", f"/dev/fd/{fd}"):
        try:
            if identity(os.stat(path)) == identity(os.fstat(fd)):
                return path
        except OSError:
            continue
    return None


class InputFile:
    """The file or folder the user named, opened once (open_input) and kept open while
    anything may still read it; str() is the user's path, for messages.

    Every read goes through this descriptor: `reader()` (a file object of positioned reads),
    `fd` (pread, mmap), `library_path()` (the same inode for libraries that need a path),
    `reopen()`, `folder()` and `digest()`. Nothing opens `path` again without the identity check.
    """

    def __init__(self, path: str | os.PathLike, *, folder: bool | None = None):
        self.path = Path(path)
        self.fd = open_input(self.path, folder=folder)
        self.stat = os.fstat(self.fd)
        self._close = weakref.finalize(self, os.close, self.fd)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"InputFile({str(self.path)!r}, fd={self.fd})"

    @property
    def name(self) -> str:
        """The file name the user gave (for messages and manifests)."""
        return self.path.name

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def size(self) -> int:
        """The size the file had when it was opened."""
        return self.stat.st_size

    @property
    def identity(self) -> Identity:
        return identity(self.stat)

    def reader(self) -> io.BufferedReader:
        """A binary file object reading this file with positioned reads (pread) on the checked
        descriptor: any number of them, in any thread, never move each other's position."""
        return io.BufferedReader(_PositionalFile(self), 1 << 16)

    def reopen(self) -> int:
        """A new descriptor (its own file position) of this very file: through /proc/self/fd,
        else open_input of the path with the (st_dev, st_ino) check (never blocks)."""
        found = fd_path(self.fd)
        if found is not None:
            fd = os.open(found, os.O_RDONLY | CLOEXEC)
            if identity(os.fstat(fd)) == self.identity:
                return fd
            os.close(fd)
        return open_input(self.path, folder=self.is_dir, expect=self.identity)

    def library_path(self) -> str | None:
        """A path that opens this very file, for libraries that open files by path only
        (h5py's fast driver, safetensors); None where the platform has none."""
        return fd_path(self.fd)

    def folder(self) -> Folder:
        """This folder as a Folder (its own descriptor of the same, checked folder)."""
        return Folder(self.path, fd=os.dup(self.fd))

    def parent(self) -> Folder:
        """The folder holding this file, opened and checked to hold this very file (its name
        in that folder is the file that was opened), for files a model names beside itself."""
        folder = Folder(self.path.parent)
        try:
            st = os.stat(self.path.name, dir_fd=folder.fd)
        except OSError:
            st = None
        if st is None or identity(st) != self.identity:
            folder.close()
            raise UnsafeInputError(f"{self.path}: the file was replaced while it was read; refused")
        return folder

    def digest(self) -> Any:
        """The sha256 of this very file, computed in a background thread (hashing.FileDigest
        on /proc/self/fd of a private descriptor, closed once the digest is gone)."""
        from exporter.files.hashing import FileDigest

        dup = os.dup(self.fd)
        found = fd_path(dup)
        if found is None:
            os.close(dup)
            return sha256_fd(self.fd)
        digest = FileDigest(found)
        weakref.finalize(digest, os.close, dup)
        return digest

    def close(self) -> None:
        """Close the descriptor now (else when the last user of it goes)."""
        self._close()


def as_input(source: Any, *, folder: bool | None = None) -> InputFile:
    """source itself when it is an InputFile, else the path opened as one."""
    if isinstance(source, InputFile):
        return source
    return InputFile(source, folder=folder)


def sha256_fd(fd: int) -> str:
    """sha256 hex digest of the file behind fd, read with pread in 1 MiB blocks."""
    import hashlib

    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, 1 << 20, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


class _PositionalFile(io.RawIOBase):
    """A read-only raw file over an InputFile's descriptor that keeps its own position and
    reads with pread, so it never shares a file offset with any other reader of the file."""

    def __init__(self, source: InputFile):
        self._source = source  # keeps the descriptor open while this object lives
        self._fd = source.fd
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def readinto(self, buffer: Any) -> int:
        count = os.preadv(self._fd, [buffer], self._pos) if hasattr(os, "preadv") else None
        if count is None:
            data = os.pread(self._fd, len(memoryview(buffer)), self._pos)
            count = len(data)
            memoryview(buffer).cast("B")[:count] = data
        self._pos += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            base = 0
        elif whence == io.SEEK_CUR:
            base = self._pos
        else:
            base = os.fstat(self._fd).st_size
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


class Folder:
    """An open folder of an input, kept for as long as its files may still be read (lazy
    tensors), so that every later open starts from the folder that was checked."""

    def __init__(self, path: str | os.PathLike, *, fd: int | None = None):
        self.path = path
        self.fd = open_input(path, folder=True) if fd is None else fd
        self._close = weakref.finalize(self, os.close, self.fd)

    def open(self, parts: tuple[str, ...], where: str, name: str, **checks) -> int:
        """open_inside(self.fd, ...): a checked regular file below this folder."""
        return open_inside(self.fd, parts, where, name, **checks)

    def read(self, parts: tuple[str, ...], limit: int, where: str, name: str, **checks) -> bytes:
        """All bytes of the file at parts (refused above limit)."""
        fd = self.open(parts, where, name, **checks)
        try:
            return read_bounded(fd, limit, f"{where}: {name}")
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the folder's descriptor now (else when the object goes)."""
        self._close()
