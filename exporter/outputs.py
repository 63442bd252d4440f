"""Outputs are written to a temporary name beside the destination and renamed into place.

Nothing is overwritten without force; a failure (or Ctrl-C) leaves the previous output intact
and no partial file behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ExporterError, OutputExistsError, UsageError


def check_destination(dest: Path, force: bool, folder: bool = False) -> None:
    """See _check_destination; a path the system refuses (name too long, ...) is one line."""
    with _creating(dest):
        _check_destination(dest, force, folder)


def _check_destination(dest: Path, force: bool, folder: bool = False) -> None:
    """Refuse an existing destination unless force, and even with force anything that is not
    an output exporter would write there: a symlink, a device or other special file, a folder
    where a file goes, or a folder that is not a CSV export (its files would be lost)."""
    if dest.name in ("", ".", ".."):
        raise UsageError(f"{dest}: name the output file or folder itself")
    if not (dest.exists() or dest.is_symlink()):
        if not dest.parent.is_dir():
            raise UsageError(f"output folder {dest.parent} does not exist")
        return
    if not force:
        raise OutputExistsError(f"{dest} exists; pass --force to overwrite it")
    if dest.is_symlink() or not (dest.is_file() or dest.is_dir()):
        raise OutputExistsError(f"{dest} is a link or a special file; exporter never replaces one")
    if dest.is_dir() and not folder:
        raise OutputExistsError(f"{dest} is a folder; remove it or choose another name")
    if folder and not (dest.is_dir() and _is_csv_export(dest)):
        kind = "a file" if dest.is_file() else "a folder that is not an exporter CSV export"
        raise OutputExistsError(f"{dest} is {kind}; exporter replaces only its own exports there")


def _is_csv_export(folder: Path) -> bool:
    """A folder holding an exporter manifest.json (what the CSV writer makes)."""
    import json

    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == "exporter.weights"


def release_cache(dest: Path) -> None:
    """Before a file that is going to be replaced is written again, ask the kernel to drop its
    cached pages (posix_fadvise DONTNEED; the file itself is untouched until the rename).

    The new output then reuses that memory instead of needing as much again: replacing a 1 GB
    export held 2 GB of page cache, and on a VM whose host reclaims free memory, getting the
    second GB cost up to 2 s of system time (1 GB .h5 -> NPZ: 1.7 s instead of 1.9-2.7 s).
    Pages not yet written to disk are kept by the kernel, so nothing is lost either way.
    """
    if not hasattr(os, "posix_fadvise") or not dest.is_file() or dest.is_symlink():
        return
    with contextlib.suppress(OSError):
        fd = os.open(dest, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


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


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a path with dest's name inside a new private folder beside dest; on success the
    file written there is renamed to dest, and the folder goes away either way.

    The writer creates the file itself. Opening an empty file made in advance (mkstemp) with
    "w" truncates it, and ext4 then writes the whole file to disk when it is closed, in the
    caller's time (0.35 s per GB), even for an output that replaces nothing. Keeping dest's
    name also lets libraries that choose the format by extension write there directly.
    """
    dest = Path(dest)
    check_destination(dest, force)
    release_cache(dest)
    with _creating(dest):
        folder = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    tmp_path = folder / dest.name
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        if dest.is_dir() and not dest.is_symlink():
            raise OutputExistsError(f"{dest} is a folder; remove it or choose another name")
        os.replace(tmp_path, dest)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside dest; on success it replaces dest."""
    dest = Path(dest)
    check_destination(dest, force, folder=True)
    with _creating(dest):
        tmp_path = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o755)
        if dest.exists() or dest.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / "previous")
            os.replace(tmp_path, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp_path, dest)
    except BaseException:
        shutil.rmtree(tmp_path, ignore_errors=True)
        raise
