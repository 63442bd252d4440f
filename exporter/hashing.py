"""sha256 of a source file, computed in a background thread while the weights are read.

hashlib and file reads release the GIL, so on two cores hashing a 100 MB model overlaps with
reading and writing its tensors instead of adding to them.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

BLOCK = 1 << 22


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


class FileDigest:
    """A file's sha256 being computed in a daemon thread; calling it waits for the hex digest."""

    def __init__(self, path: str | Path):
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(Path(path),), daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._value = file_sha256(path)
        except BaseException as exc:  # re-raised in the caller's thread
            self._error = exc

    def __call__(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value
