"""sha256 of a source file, computed in a background thread while the weights are read.

hashlib and file reads release the GIL, so on two cores hashing a 100 MB model overlaps with
reading and writing its tensors instead of adding to them.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

BLOCK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks into one reused buffer.

    A new buffer per block (handle.read) costs a fresh allocation, its page faults and an unmap
    every time; with threads that unmap interrupts the other core too (about 0.5 s of system
    time per GB while the writers run). Memory-mapping the file instead would count the whole
    file in the process's RSS.
    """
    digest = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
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
