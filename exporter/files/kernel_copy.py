"""The kernel's side of writing outputs: kernel copies, early write-back, page-cache advice.

OutputFile is the file a writer writes a big export to.

Bytes that are a view of an input file's range (maps.file_extent: a tensor memory-mapped from
the source) are copied from that file with copy_file_range, inside the kernel as cp does,
instead of being written from memory. Where the kernel or the filesystem cannot copy, the bytes
are written from memory; the output is byte-identical either way.

The environment variable EXPORTER_NO_KERNEL_COPY=1 switches kernel copies off: every byte then
goes through plain write() (to rule them out when a filesystem misbehaves, or to measure them:
bench/write_paths.py). It is read when an output file is opened; empty or 0 means on.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import stat
import threading

from exporter.files.maps import file_extent

NO_KERNEL_COPY_ENV = "EXPORTER_NO_KERNEL_COPY"
# copy_file_range cannot serve this pair of files (another filesystem, an old kernel, a
# filesystem without it, a sandbox that forbids it): the bytes are written from memory instead.
_NO_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}
COPY_MIN = 1 << 16  # below this, write() costs less than looking for the map
WRITEBACK_BYTES = 64 << 20


def kernel_copies_enabled() -> bool:
    """True when this system has copy_file_range and EXPORTER_NO_KERNEL_COPY does not forbid it."""
    switched_off = os.environ.get(NO_KERNEL_COPY_ENV, "") not in ("", "0")
    return hasattr(os, "copy_file_range") and not switched_off


class OutputFile(io.BufferedWriter):
    """The file a writer writes a big export to: buffered (64 KiB), plus two things that keep a
    1 GB export near the speed of cp.

    - Bytes that are a view of an input file's range are copied from that file with
      copy_file_range (see the module docstring); hashes and zip CRCs still read the map. It
      works as the file of a zipfile.ZipFile too, which computes a member's CRC from the memory
      it is given and passes that same memory on to write().
    - Every 64 MiB written is handed to the kernel for write-back at once (posix_fadvise
      DONTNEED, from a background thread), instead of all of it at the rename: ext4 writes a
      file that replaces another out before the rename returns (its guard against empty files
      after a crash), which took 0.4-0.6 s per GB at the end of every export (strace -T).

    bench/write_paths.py measures both: a 1 GB .h5 -> NPZ took 2.59 s writing from memory and
    1.75 s with both (medians of 8 on 2 cores; cp of the file took 0.81 s).
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(io.FileIO(path, "w"), buffer_size=1 << 16)
        self._copying = kernel_copies_enabled()
        self._advised = 0  # bytes before this offset were handed over for write-back
        self._ranges: queue.SimpleQueue | None = None
        self._writeback: threading.Thread | None = None

    def write(self, data) -> int:
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        extent = file_extent(view) if self._copying and view.nbytes >= COPY_MIN else None
        done = self._copy(extent, view.nbytes) if extent else 0
        if done < view.nbytes:
            super().write(view[done:])
        if view.nbytes >= COPY_MIN:
            self._hand_over()
        return view.nbytes

    def _copy(self, extent: tuple[int, int], nbytes: int) -> int:
        """How many of the nbytes at extent were copied inside the kernel (all, unless the
        kernel or filesystem cannot; the caller writes the rest from memory)."""
        source, offset = extent
        self.flush()
        position = self.tell()
        done = 0
        try:
            while done < nbytes:
                count = os.copy_file_range(
                    source, self.fileno(), nbytes - done, offset + done, position + done
                )
                if count == 0:  # a filesystem that copies nothing: the memory is what was hashed
                    self._copying = False
                    break
                done += count
        except OSError as exc:
            if exc.errno not in _NO_COPY:
                raise
            self._copying = False
        self.seek(position + done)
        return done

    def _hand_over(self) -> None:
        end = self.tell()
        if end - self._advised < WRITEBACK_BYTES or not hasattr(os, "posix_fadvise"):
            return
        self.flush()
        if self._ranges is None:
            ranges: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=_write_back, args=(self.fileno(), ranges), daemon=True)
            thread.start()
            self._ranges, self._writeback = ranges, thread
        self._ranges.put((self._advised, end - self._advised))
        self._advised = end

    def close(self) -> None:
        try:
            if self._ranges is not None:
                self._ranges.put(None)
                self._ranges = None
                self._writeback.join()
        finally:
            super().close()


def _write_back(fd: int, ranges: queue.SimpleQueue) -> None:
    """Start write-back of each (offset, length) range of fd as it arrives (advice only: an
    error changes nothing the writer needs)."""
    while (item := ranges.get()) is not None:
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, item[0], item[1], os.POSIX_FADV_DONTNEED)


def release_cache(dest: str | os.PathLike) -> None:
    """Before a file that is going to be replaced is written again, ask the kernel to drop its
    cached pages (the file itself is untouched until the rename).

    The new output then reuses that memory instead of needing as much again: replacing a 1 GB
    export held 2 GB of page cache, and on a VM whose host reclaims free memory, getting the
    second GB cost up to 2 s of system time (1 GB .h5 -> NPZ: 1.7 s instead of 1.9-2.7 s).
    Pages not yet written to disk are kept by the kernel, so nothing is lost either way.
    """
    _drop_cached_pages(dest)


def start_write_back(path: str | os.PathLike) -> None:
    """Start writing a file that is about to replace another out to disk, as ext4 does itself for
    a rename over a file (auto_da_alloc) but not for an exchange: after a crash the output is
    then the old file or the new one, not an empty one. It does not wait."""
    _drop_cached_pages(path)


def _drop_cached_pages(path: str | os.PathLike) -> None:
    """posix_fadvise(DONTNEED) over the regular file at path, never through a symlink or on a
    special file; advice only, so any error is ignored."""
    if not hasattr(os, "posix_fadvise"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
