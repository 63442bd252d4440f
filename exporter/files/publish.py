"""Outputs are written in a private folder beside the destination, then published into place.

Publishing never replaces what it did not check. Without force, the output is renamed into
place with a no-replace primitive (renameat2 RENAME_NOREPLACE, else a hard link or a claimed
name), so an output or a folder that appears while the export runs is never touched: the export
fails with OutputExistsError instead. With force, only the very file or folder that was checked
(same st_dev and st_ino) is replaced: renameat2 RENAME_EXCHANGE swaps the new output in and the
old one out in one step, and swaps back if what came out is not what was checked; where the
filesystem cannot exchange, the check is repeated right before the rename, and a replaced folder
is put back on every path that does not complete. A failure (or Ctrl-C, or SIGTERM) leaves the
previous output intact and no partial file behind.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from exporter.core.errors import ExporterError, OutputExistsError, UsageError
from exporter.files.archive import metadata_limit, parse_document
from exporter.files.kernel_copy import release_cache, start_write_back

Identity = tuple[int, int]  # (st_dev, st_ino): the file or folder that was checked


def check_destination(dest: Path, force: bool, folder: bool = False) -> Identity | None:
    """The identity of the existing output that may be replaced (None: there is none), see
    _check_destination; a path the system refuses (name too long, ...) is one line."""
    with _creating(dest):
        return _check_destination(dest, force, folder)


def _check_destination(dest: Path, force: bool, folder: bool = False) -> Identity | None:
    """Refuse an existing destination unless force, and even with force anything that is not
    an output exporter would write there: a symlink, a device or other special file, a folder
    where a file goes, or a folder that is not a CSV export (its files would be lost)."""
    if dest.name in ("", ".", ".."):
        raise UsageError(f"{dest}: name the output file or folder itself")
    try:
        st = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):
        make_parents(dest.parent)
        return None
    if not force:
        raise OutputExistsError(f"{dest} exists; pass --force to overwrite it")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise OutputExistsError(f"{dest} is a link or a special file; exporter never replaces one")
    if stat.S_ISDIR(st.st_mode) and not folder:
        raise OutputExistsError(f"{dest} is a folder; remove it or choose another name")
    if not folder:
        return (st.st_dev, st.st_ino)
    identity = _csv_export(dest) if stat.S_ISDIR(st.st_mode) else None
    if identity is None:
        kind = (
            "a file" if stat.S_ISREG(st.st_mode) else "a folder that is not an exporter CSV export"
        )
        raise OutputExistsError(f"{dest} is {kind}; exporter replaces only its own exports there")
    return identity


def make_parents(folder: Path) -> None:
    """Create the output's missing folders, as `mkdir -p` (and a batch export) does; a file in
    the way is one line (UsageError) naming it."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(
            f"cannot create output folder {folder}: a file is in the way; choose another -o"
        ) from None


def _csv_export(folder: Path) -> Identity | None:
    """The identity of folder when it holds an exporter manifest.json (what the CSV writer
    makes), read through descriptors: the folder checked is the folder whose manifest was read."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | nofollow)
    except OSError:
        return None
    try:
        st = os.fstat(dir_fd)
        fd = os.open("manifest.json", os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=dir_fd)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = handle.read(metadata_limit() + 1)
            if len(data) > metadata_limit():  # not a manifest exporter wrote: not its export
                return None
            manifest = parse_document(data, str(folder / "manifest.json"))
    except (OSError, ValueError):  # InputError is a ValueError: not valid JSON, not an export
        return None
    finally:
        os.close(dir_fd)
    if isinstance(manifest, dict) and manifest.get("format") == "exporter.weights":
        return (st.st_dev, st.st_ino)
    return None


@contextlib.contextmanager
def _creating(dest: Path) -> Iterator[None]:
    """Turn a failure to create the output's temporary (name too long, no permission, read-only
    folder) into one clear line."""
    try:
        yield
    except ExporterError:  # OutputExistsError is an OSError too
        raise
    except OSError as exc:
        raise UsageError(f"cannot write {dest}: {exc.strerror or exc}") from None


RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2
# False (EXPORTER_NO_RENAMEAT2=1, or tests): the fallback of filesystems without renameat2 flags
USE_RENAMEAT2 = os.environ.get("EXPORTER_NO_RENAMEAT2", "") in ("", "0")
# renameat2 or its flags are missing: this kernel, this filesystem, or a sandbox's filter
_NO_FLAGS = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM}
# a filesystem without hard links
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
# a rename or link onto something that is there
_OCCUPIED = {errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR}


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(src, dst, flags): True when done, False when this system or filesystem cannot
    (the caller falls back); any other failure is the OSError it is."""
    function = _load_renameat2() if USE_RENAMEAT2 else None
    if function is None:
        return False
    if function(-100, os.fsencode(src), -100, os.fsencode(dst), flags) == 0:  # AT_FDCWD
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in _NO_FLAGS:
        return False
    raise OSError(code, os.strerror(code), str(dst))


@functools.cache
def _load_renameat2():
    """libc's renameat2 through ctypes (glibc 2.28+, Linux 3.15+), or None."""
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _identity(path: Path) -> Identity | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def _exists_error(dest: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{dest} appeared while the export ran and was left as it is; "
        "remove it or choose another name, and run again"
    )


def _changed_error(dest: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{dest} was changed by something else while the export ran and was left as it is; "
        "run again"
    )


def publish_new(tmp: Path, dest: Path) -> None:
    """Rename tmp (a file or a folder) to dest only if nothing at all is at dest: otherwise
    raise OutputExistsError, and tmp stays where it is."""
    try:
        if _renameat2(tmp, dest, RENAME_NOREPLACE):
            return
        if stat.S_ISDIR(os.lstat(tmp).st_mode):
            _publish_dir_by_claim(tmp, dest)
        else:
            _publish_file_by_link(tmp, dest)
    except OSError as exc:
        if isinstance(exc, ExporterError) or exc.errno not in _OCCUPIED:
            raise
        raise _exists_error(dest) from None


def _publish_file_by_link(tmp: Path, dest: Path) -> None:
    """A hard link fails if anything is at dest (a dangling symlink too); then the temporary name
    goes. Without hard links: claim the name with O_EXCL and rename onto that claim only."""
    try:
        os.link(tmp, dest, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(dest, flags, 0o600)
        claim = (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        os.close(fd)
        if _identity(dest) != claim:
            raise _changed_error(dest) from None
        os.rename(tmp, dest)
        return
    os.unlink(tmp)


def _publish_dir_by_claim(tmp: Path, dest: Path) -> None:
    """Claim dest with mkdir (fails if anything is there), then rename the folder onto that empty
    claim: rename replaces an existing EMPTY folder on POSIX, so only our own claim is replaced,
    and a claim someone filled meanwhile makes the rename fail (ENOTEMPTY)."""
    os.mkdir(dest, 0o700)
    claim = _identity(dest)
    try:
        os.rename(tmp, dest)
    except BaseException:
        if _identity(dest) == claim:
            with contextlib.suppress(OSError):
                os.rmdir(dest)  # only our own claim, and only while it is empty
        raise


def publish_replacing(tmp: Path, dest: Path, checked: Identity | None) -> None:
    """Put tmp at dest, replacing only the file or folder whose identity was checked (checked is
    None: nothing was there, and nothing may be now). The replaced output is removed."""
    if checked is None:
        publish_new(tmp, dest)
        return
    start_write_back(tmp)
    try:
        exchanged = _renameat2(tmp, dest, RENAME_EXCHANGE)
    except FileNotFoundError:  # the checked output went away: nothing to replace now
        publish_new(tmp, dest)
        return
    if exchanged:
        _keep_if_checked(tmp, dest, checked)
    elif stat.S_ISDIR(os.lstat(tmp).st_mode):
        _replace_dir_fallback(tmp, dest, checked)
    else:
        _replace_file_fallback(tmp, dest, checked)


def _keep_if_checked(old: Path, dest: Path, checked: Identity) -> None:
    """After an exchange, old holds what was at dest: remove it if it is the output that was
    checked, else swap it back and refuse."""
    if _identity(old) == checked:
        _discard(old)
        return
    try:
        swapped = _renameat2(old, dest, RENAME_EXCHANGE)
    except OSError:  # dest went away meanwhile
        swapped = False
    if not swapped:
        _put_back(old, dest)  # under its name, or kept and named: never left to be removed
    raise _changed_error(dest)


def _replace_file_fallback(tmp: Path, dest: Path, checked: Identity) -> None:
    """Without an exchange: check again right before the (atomic) replacing rename."""
    current = _identity(dest)
    if current is None:
        publish_new(tmp, dest)
    elif current != checked:
        raise _changed_error(dest)
    else:
        os.replace(tmp, dest)


def _replace_dir_fallback(tmp: Path, dest: Path, checked: Identity) -> None:
    """Without an exchange a folder takes two renames: the old one aside (into a private .old
    folder), the new one in. The old one is checked once aside, and put back on every path that
    does not complete; only the checked old output is ever deleted."""
    aside_root = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    aside = aside_root / "previous"
    try:
        try:
            os.rename(dest, aside)
        except FileNotFoundError:  # the checked output went away: nothing to replace now
            publish_new(tmp, dest)
            return
        try:
            if _identity(aside) != checked:
                raise _changed_error(dest)
            publish_new(tmp, dest)
        except BaseException:
            _put_back(aside, dest)
            raise
        _discard(aside)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(aside_root)  # stays only if the previous output could not go back


def _put_back(old: Path, dest: Path) -> None:
    """Return the previous output to dest (never over anything); if something took dest
    meanwhile, say where the previous output is instead of losing it."""
    try:
        publish_new(old, dest)
    except OutputExistsError:
        if not old.parent.name.endswith(".old"):  # a temporary name, removed on the way out
            keep = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.rename(old, keep / "previous")
            old = keep / "previous"
        raise OutputExistsError(
            f"{dest} was taken by something else while the export ran; "
            f"the previous output is kept as {old}"
        ) from None


def _discard(path: Path) -> None:
    shutil.rmtree(path) if stat.S_ISDIR(os.lstat(path).st_mode) else os.unlink(path)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while an output is published (main thread only: handlers can be
    set nowhere else) and deliver them afterwards, so an interrupt never falls between the
    renames of a publish and the previous output is never left moved aside."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not None:  # None: a handler Python did not set
            held[number] = signal.signal(number, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        for number in caught:
            signal.raise_signal(number)


def publish(tmp: Path, dest: Path, checked: Identity | None, force: bool) -> None:
    """Publish tmp at dest: never over anything without force, with force only over the output
    that was checked (see the module docstring); signals wait until it is done. (Without force
    checked is None: check_destination refused any output that was there.)"""
    with _creating(dest), _signals_held():
        publish_replacing(tmp, dest, checked if force else None)


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a path with dest's name inside a new private folder beside dest; on success the
    file written there is published at dest (see publish), and the folder goes away either way.

    The writer creates the file itself. Opening an empty file made in advance (mkstemp) with
    "w" truncates it, and ext4 then writes the whole file to disk when it is closed, in the
    caller's time (0.35 s per GB, strace -T of the close), even for an output that replaces
    nothing. Keeping dest's name also lets libraries that choose the format by extension write
    there directly.
    """
    dest = Path(dest)
    checked = check_destination(dest, force)
    if checked is not None:  # advice only, so it runs beside the export (0.1-0.4 s per GB)
        threading.Thread(target=release_cache, args=(dest,), daemon=True).start()
    with _creating(dest):
        folder = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    tmp_path = folder / dest.name
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        publish(tmp_path, dest, checked, force)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside dest; on success it is published at dest (see
    publish). On failure the temporary folder is removed, and only it."""
    dest = Path(dest)
    checked = check_destination(dest, force, folder=True)
    with _creating(dest):
        tmp_path = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    mine = _identity(tmp_path)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o755)
        publish(tmp_path, dest, checked, force)
    except BaseException:
        if _identity(tmp_path) == mine:
            shutil.rmtree(tmp_path, ignore_errors=True)
        raise
