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

from .errors import OutputExistsError, UsageError


def check_destination(dest: Path, force: bool) -> None:
    """Refuse an existing destination unless force; refuse a missing parent folder."""
    if (dest.exists() or dest.is_symlink()) and not force:
        raise OutputExistsError(f"{dest} exists; pass --force to overwrite it")
    if not dest.parent.is_dir():
        raise UsageError(f"output folder {dest.parent} does not exist")


@contextlib.contextmanager
def atomic_file(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in dest's folder; on success rename it to dest."""
    dest = Path(dest)
    check_destination(dest, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        if dest.is_dir() and not dest.is_symlink():
            raise OutputExistsError(f"{dest} is a folder; remove it or choose another name")
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a new temporary folder beside dest; on success it replaces dest."""
    dest = Path(dest)
    check_destination(dest, force)
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
