"""Versioned outputs: DIR/<model>/v<N>/<file> plus DIR/<model>/index.json.

A new version is made only when the weights changed: the digest covers every tensor's name,
dtype, shape and sha256, so re-running a pipeline on the same model is a no-op. The index is
updated under a file lock, so parallel jobs (make -j) are safe.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exporter.core.errors import InputError, UnsafeInputError, UsageError
from exporter.core.weightset import WeightSet, sha256_of
from exporter.files.archive import metadata_limit, parse_document
from exporter.files.publish import atomic_dir, atomic_file
from exporter.formats import schemas

INDEX = "index.json"
STORE_FORMAT = "exporter.store"
STORE_VERSION = "1.0.0"
STORE_SCHEMA = "store-index-1.schema.json"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_DIR = re.compile(r"v([0-9]{1,9})")  # longer numbers are not versions (or names)
LOCK = ".lock"


def weights_digest(ws: WeightSet) -> str:
    """sha256 over every tensor's name, dtype, shape and value hash (order included).

    The values are always hashed from the data: an export's manifest hash is only a claim.
    """
    digest = hashlib.sha256()
    for tensor in ws:
        value = sha256_of(tensor.read())
        digest.update(
            json.dumps([tensor.name, tensor.dtype_name, list(tensor.shape), value]).encode()
        )
    return digest.hexdigest()


def model_name(name: str) -> str:
    if not _SAFE_NAME.match(name):
        suggestion = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:128] or "model"
        raise UsageError(
            f"model name {name!r} for the store must match [A-Za-z0-9][A-Za-z0-9._-]*; "
            f"give one with --name, e.g. --name {suggestion}"
        )
    return name


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the store folder's lock file (folder/.lock, created empty and never written)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the store folder {folder}: {exc.strerror or exc}"
        ) from None
    fd = _open_lock(folder / LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file without following a symlink and without truncating, and
    only if it is a regular file: a planted link or FIFO never makes the store touch another file."""
    fd = _open_no_link(path, os.O_RDWR | os.O_CREAT, "cannot open the store lock", UsageError)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeInputError(f"{path} is not a regular file; remove it and run again")
    return fd


def _open_no_link(path: Path, flags: int, failure: str, error: type) -> int:
    """os.open without following a symlink or blocking on a FIFO; a link is UnsafeInputError,
    any other failure `error` with the `failure` text."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeInputError(
                f"{path} is a symlink; exporter never reads or writes through one: remove it "
                "and run again"
            ) from None
        raise error(f"{failure} {path}: {exc.strerror or exc}") from None


def read_index(folder: Path) -> dict[str, Any]:
    """The index of a model's folder in a store (empty when there is none yet)."""
    path = folder / INDEX
    if not (path.exists() or path.is_symlink()):
        return {"format": STORE_FORMAT, "format_version": STORE_VERSION, "model": folder.name,
                "versions": []}  # fmt: skip
    index = parse_document(_read_regular(path, metadata_limit()), str(path))
    schemas.check(index, STORE_SCHEMA, str(path))
    return index


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of path, refused when it is a symlink, not a regular file, or over limit."""
    fd = _open_no_link(path, os.O_RDONLY, "cannot read", InputError)
    with open(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise InputError(f"{path}: not a regular file of at most {limit} bytes")
        return handle.read(limit + 1)


def store_export(
    ws: WeightSet, store: str | os.PathLike, name: str, file_name: str, write
) -> dict[str, Any]:
    """Export ws into the store unless its weights equal the latest version's.

    write(path) writes the export to path and returns its manifest. Returns the index entry of the
    version that holds these weights, with 'created' telling whether it is new.
    """
    folder = Path(store) / model_name(name)
    digest = weights_digest(ws)
    with locked(folder):
        index = read_index(folder)
        if index["versions"] and index["versions"][-1]["digest"] == digest:
            return {**index["versions"][-1], "created": False}
        number = _next_number(folder, index)
        with atomic_dir(folder / f"v{number}") as version_dir:  # appears only when complete
            manifest = write(version_dir / file_name)
        entry = {
            "version": number,
            "digest": digest,
            "path": f"v{number}/{file_name}",
            "source": {
                k: v for k, v in manifest["source"].items() if k in ("kind", "file", "sha256")
            },
            "tensors": manifest["totals"]["tensors"],
            "parameters": manifest["totals"]["parameters"],
        }
        if "created_at" in manifest:
            entry["created_at"] = manifest["created_at"]
        index["versions"].append(entry)
        schemas.check(index, STORE_SCHEMA, "store index")
        with atomic_file(folder / INDEX, force=True) as tmp:
            tmp.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return {**entry, "created": True}


def _next_number(folder: Path, index: dict[str, Any]) -> int:
    """One past every version in the index and every v<N> folder (even a stray one); N is ASCII
    digits only (str.isdigit() also takes '²', which int() refuses)."""
    found = (_VERSION_DIR.fullmatch(entry) for entry in os.listdir(folder))
    on_disk = [int(match[1]) for match in found if match]
    return max([v["version"] for v in index["versions"]] + on_disk, default=0) + 1


def versions(folder: str | os.PathLike) -> dict[str, Any]:
    """The index of DIR/<model>: every version with its digest and source."""
    folder = Path(folder)
    if not (folder / INDEX).is_file():
        raise InputError(
            f"{folder}: no {INDEX} here; expected a model folder inside a store (DIR/<model>)"
        )
    return read_index(folder)
