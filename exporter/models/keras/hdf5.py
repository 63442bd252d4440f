"""HDF5 access for Keras files with h5py only: safety checks, dtypes, lazy dataset reads.

Every file is audited before anything is read from it (DESIGN.md, "Safety by default"): soft and
external links, external-storage and virtual datasets are refused, and a dataset whose declared
size cannot come from a file this big is refused before it is read.
"""

from __future__ import annotations

import io
import mmap
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from exporter.core.dtypes import by_hdf5_opaque
from exporter.core.errors import ExporterError, InputError, UnsafeInputError, require
from exporter.files.archive import declared_nbytes, metadata_limit, stored_member_range
from exporter.files.inputs import InputFile
from exporter.files.maps import file_array

MAX_COMPRESSION_RATIO = 1000  # a filtered dataset may inflate at most this much
# What h5py raises on a damaged or crafted file besides OSError: a damaged object header or link
# is a KeyError, a damaged attribute or identifier a ValueError or RuntimeError, a stored type
# numpy has no equivalent for a TypeError. Readers of Keras files declare these as damage.
H5PY_ERRORS = (KeyError, ValueError, RuntimeError, TypeError)


def h5py():
    return require("h5py", "keras")


def attr_text(value: Any) -> str:
    """An HDF5 string attribute as str (h5py gives str or bytes). A text longer than the
    metadata limit (archive.metadata_limit; a model_config is one) is refused before it is
    decoded or parsed: JSON costs up to ~24x its text in memory."""
    limit = metadata_limit()
    if isinstance(value, (bytes, str)) and len(value) > limit:
        raise _too_long("an HDF5 text attribute", len(value), limit)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _too_long(what: str, size: int, limit: int) -> UnsafeInputError:
    return UnsafeInputError(
        f"{what} holds {size:,} bytes, more than the {limit:,}-byte limit for a metadata "
        "document; refused (set EXPORTER_MAX_METADATA_BYTES to raise the limit if it is trusted)"
    )


def attr_list(group: Any, name: str) -> list[str]:
    """A list-of-strings attribute, joined from `name0`, `name1`, ... when Keras split it."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in group.attrs:
            chunks.append(group.attrs[f"{name}{len(chunks)}"])
    return [attr_text(item) for chunk in chunks for item in np.asarray(chunk).reshape(-1)]


def dataset_dtype(dataset: Any, where: str) -> np.dtype:
    """The real dtype of a Keras weight dataset, its `dtype` attribute read (Keras writes
    bfloat16 and float8 as opaque bytes; .weights.h5 adds attr dtype='bfloat16')."""
    declared = dataset.attrs.get("dtype")
    text = attr_text(declared) if declared is not None else None
    return real_dtype(dataset.dtype, dataset.name, where, text)


def real_dtype(dtype: np.dtype, path: str, where: str, declared: str | None = None) -> np.dtype:
    """The dtype of a weight stored as HDF5 dtype whose `dtype` attribute says declared (None:
    no attribute): the HDF5 rule of the dtype table (core.dtypes.by_hdf5_opaque) for a type
    stored opaque, else the numeric dtype itself."""
    row = by_hdf5_opaque(dtype.itemsize, declared)
    opaque = dtype.kind == "V" and dtype.names is None  # a bare |V2 is legacy .h5's bfloat16
    if row is not None and (opaque or row.name == declared):
        return row.numpy
    if dtype.kind not in "biuf":
        raise InputError(f"{where}: dataset {path} has dtype {dtype}, not a numeric weight")
    return dtype


@dataclass(frozen=True)
class DatasetFacts:
    """What the audit learned about one dataset: enough to build a lazy tensor without h5py's
    high-level objects (about 0.2 ms each), and where its bytes are when they can be mapped."""

    shape: tuple[int, ...]
    dtype: np.dtype  # as HDF5 declares it (opaque |V2 included)
    has_attrs: bool
    offset: int | None  # contiguous, unfiltered, native byte order: where the data starts


def audit(h5file: Any, file_size: int, where: str) -> dict[str, DatasetFacts]:
    """Refuse links and datasets that would make h5py read outside the file, or absurd sizes.

    Walks the file with h5py's low-level visitors (C loops; ~10x faster than the high-level
    API on ResNet50's 600 objects): every link must be a hard link, every object a group or a
    dataset, and every dataset's creation properties are checked before anything is read.
    Returns the facts of every dataset, keyed by absolute path ("/group/name").
    """
    auditor = _Auditor(h5file, file_size, where)
    _audit_root_texts(h5file, where)
    h5file.id.links.visit(auditor.on_link, info=True)
    if not auditor.problems:
        auditor.lib.h5o.visit(h5file.id, auditor.on_object, info=True)
    if auditor.problems:
        raise auditor.problems[0]
    return auditor.facts


class _Auditor:
    """The visitors of one audit, called by h5py for every link and every object: each returns
    1 to stop the walk at the first problem (kept in problems), None to go on."""

    def __init__(self, h5file: Any, file_size: int, where: str):
        self.lib = h5py()
        self.h5file, self.file_size, self.where = h5file, file_size, where
        self.problems: list[ExporterError] = []
        self.facts: dict[str, DatasetFacts] = {}

    def on_link(self, name: bytes, info: Any) -> int | None:
        if info.type != self.lib.h5l.TYPE_HARD:
            kind = "soft" if info.type == self.lib.h5l.TYPE_SOFT else "external"
            self.problems.append(UnsafeInputError(
                f"{self.where}: HDF5 {kind} link /{name.decode(errors='replace')} is refused "
                "(Keras files never hold links); re-save the model with Keras"
            ))  # fmt: skip
            return 1  # stop the walk
        return None

    def on_object(self, name: bytes, info: Any) -> int | None:
        path = "/" + name.decode(errors="replace")
        if info.type == self.lib.h5o.TYPE_DATASET:
            return self._dataset(name, path, info)
        if info.type != self.lib.h5o.TYPE_GROUP:
            self.problems.append(InputError(
                f"{self.where}: {path} is not a group or dataset (Keras files hold only those); "
                "the file is damaged or crafted"
            ))  # fmt: skip
            return 1
        return None

    def _dataset(self, name: bytes, path: str, info: Any) -> int | None:
        try:
            dataset = self.lib.h5d.open(self.h5file.id, name)
            offset = _audit_dataset(dataset, path, self.file_size, self.where)
        except ExporterError as exc:
            self.problems.append(exc)
            return 1
        try:  # a name that is not UTF-8 gets no facts (h5py looks it up by itself):
            key = "/" + name.decode()  # replaced bytes could collide with a real name
        except UnicodeDecodeError:
            return None
        shape = tuple(int(n) for n in dataset.shape or ())
        self.facts[key] = DatasetFacts(shape, dataset.dtype, info.num_attrs > 0, offset)
        return None


def _audit_root_texts(h5file: Any, where: str) -> None:
    """Refuse a root text attribute (model_config, training_config: JSON that Keras parses
    too, with --via keras) longer than the metadata limit."""
    limit = metadata_limit()
    for name in h5file.attrs:
        try:
            found = h5file.attrs.get_id(name)
            if found.shape != () or found.dtype.kind not in "OSU":
                continue  # Keras's JSON documents are scalar strings
            value = h5file.attrs[name]
        except (OSError, *H5PY_ERRORS):
            continue  # not an attribute h5py can read: whoever needs it says so
        if isinstance(value, (bytes, str)) and len(value) > limit:
            raise _too_long(f"{where}: HDF5 attribute {name!r}", len(value), limit)


def _audit_dataset(dataset: Any, path: str, file_size: int, where: str) -> int | None:
    """Checks of one low-level dataset (h5py.h5d.DatasetID) from its creation properties;
    returns the file offset of its data when it is contiguous, unfiltered and in range."""
    lib = h5py()
    plist = dataset.get_create_plist()
    if plist.get_external_count():
        raise UnsafeInputError(
            f"{where}: dataset {path} keeps its data in an external file; refused, "
            "re-save the model with Keras"
        )
    layout = plist.get_layout()
    if layout == lib.h5d.VIRTUAL:
        raise UnsafeInputError(
            f"{where}: dataset {path} is a virtual dataset (reads other files); refused"
        )
    declared = declared_nbytes(
        dataset.shape or (), dataset.dtype.itemsize, f"{where}: dataset {path}"
    )
    limit = file_size
    if layout == lib.h5d.CHUNKED and plist.get_nfilters():
        limit = file_size * MAX_COMPRESSION_RATIO
    if declared > limit:
        raise InputError(
            f"{where}: dataset {path} declares {declared:,} bytes, more than a {file_size:,}-byte "
            "file can hold; the file is damaged or crafted"
        )
    if layout != lib.h5d.CONTIGUOUS or plist.get_nfilters() or dataset.dtype.byteorder == ">":
        return None
    offset = dataset.get_offset()
    if offset is None or declared == 0 or offset + declared > file_size:
        return None  # not allocated (fill value) or not where it claims: let HDF5 decide
    return int(offset)


def read_dataset(dataset: Any, dtype: np.dtype) -> np.ndarray:
    """The dataset's values as an array of dtype (opaque bytes reinterpreted, no conversion)."""
    raw = dataset[()]
    array = np.asarray(raw)
    if array.dtype != dtype:
        if array.dtype.itemsize != dtype.itemsize:
            raise InputError(f"dataset {dataset.name}: {array.dtype} data is not {dtype}")
        array = array.view(dtype)
    return array


class _StoredMember(io.RawIOBase):
    """A read-only file object over the byte range of a stored zip member (memory-mapped)."""

    def __init__(self, view: memoryview):
        self._view = view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        count = max(0, min(len(target), len(self._view) - self._pos))
        target[:count] = self._view[self._pos : self._pos + count]
        self._pos += count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def open_h5(source: InputFile) -> Any:
    """h5py's File of the opened input: by /proc/self/fd (the same inode, with HDF5's fast
    sec2 driver), else through a file object of positioned reads on the descriptor (slower,
    FORMATS.md); never by the input's path, which may show another file by now.

    HDF5 resolves a symlink it is given to a real path, and fails when the input's name was
    removed or replaced since it was opened ("can't retrieve real path"): the file object
    reads the same descriptor then."""
    found = source.library_path()
    if found is not None:
        try:
            return h5py().File(found, "r")
        except OSError:
            pass  # damaged files fail the same way below, with the same message
    return h5py().File(source.reader(), "r")


class H5Handle:
    """One open HDF5 file (an opened input, or a stored zip member of one), closed when no
    tensor needs it.

    Everything is read from the input's checked descriptor (safe_open.InputFile), never from
    the path. Lazy tensors keep a reference to the handle; when the last one goes, the file
    (and the memory map behind it) is closed by a finalizer, so nothing leaks. `facts` is
    filled by audit(): with it, tensors are described and mapped without h5py's high-level
    objects.
    """

    def __init__(self, source: InputFile, member: str | None = None):
        self.source = source  # its descriptor stays open while tensors may read it
        self.path = source.path
        self.where = f"{source.path}:{member}" if member else str(source.path)
        self.facts: dict[str, DatasetFacts] = {}
        self._resources: list[Any] = []
        self.file = self._open(source, member, self._resources)
        self._resources.append(self.file)
        self._finalizer = weakref.finalize(self, _close_all, self._resources)

    def _open(self, source: InputFile, member: str | None, resources: list[Any]) -> Any:
        self.member_view: memoryview | None = None
        self._start = 0  # where the HDF5 bytes begin in the input (a zip member's data offset)
        self._fd = source.fd  # tensors' bytes: pread / mmap of the checked descriptor
        try:
            if member is None:
                self.size = source.size
                return open_h5(source)
            found = stored_member_range(source, member)
            if found is None:
                raise InputError(
                    f"{source.path}: {member} is compressed; Keras stores it uncompressed — "
                    "re-save the model with Keras"
                )
            self._start, self.size = found
            mapped = mmap.mmap(source.fd, 0, access=mmap.ACCESS_READ)
            resources.append(mapped)
            self.member_view = memoryview(mapped)[self._start : self._start + self.size]
            resources.append(self.member_view)
            return h5py().File(_StoredMember(self.member_view), "r")
        except OSError as exc:
            _close_all(resources)
            raise InputError(f"{self.where}: not a readable HDF5 file ({exc})") from None
        except BaseException:
            _close_all(resources)
            raise

    def close(self) -> None:
        self._finalizer()

    def _facts(self, dataset_path: str) -> DatasetFacts | None:
        return self.facts.get(dataset_path if dataset_path.startswith("/") else f"/{dataset_path}")

    def describe(self, dataset_path: str) -> tuple[np.dtype, tuple[int, ...]]:
        """(real dtype, shape) of a weight dataset; from the audit's facts when it has them."""
        facts = self._facts(dataset_path)
        if facts is None or facts.has_attrs:  # attributes may declare bfloat16: ask h5py
            dataset = self.file[dataset_path]
            if not hasattr(dataset, "shape"):
                raise InputError(
                    f"{self.where}: {dataset_path} is a group, expected a weight dataset"
                )
            return dataset_dtype(dataset, self.where), tuple(int(n) for n in dataset.shape)
        return real_dtype(facts.dtype, dataset_path, self.where), facts.shape

    def loader(self, dataset_path: str, dtype: np.dtype) -> Callable[[], np.ndarray]:
        """A zero-argument callable reading one dataset (keeps this handle alive).

        Contiguous, unfiltered datasets (most Keras weights) are read from their offset: no
        copy through HDF5, the writers stream the bytes straight from the page cache.
        """
        facts = self._facts(dataset_path)

        def load() -> np.ndarray:
            if not self._finalizer.alive:
                raise InputError(f"{self.where}: file was closed before {dataset_path} was read")
            if (
                facts is not None
                and facts.offset is not None
                and facts.dtype.itemsize == dtype.itemsize
            ):
                start = self._start + facts.offset
                return file_array(self._fd, start, dtype, facts.shape, self.where)
            return read_dataset(self.file[dataset_path], dtype)

        return load


def _close_all(resources: list[Any]) -> None:
    for resource in reversed(resources):
        try:
            if isinstance(resource, memoryview):
                resource.release()
            else:
                resource.close()
        except (OSError, ValueError, BufferError):
            pass
    resources.clear()
