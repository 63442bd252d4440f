"""Exports read back: NPZ (with or without a manifest), JSON, CSV folders and safetensors.

With a manifest, names, order and dtypes come from it and each tensor carries the manifest's
sha256, which `validate` checks. Data that disagrees with its manifest raises InputError when
the tensor is read, naming the tensor.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import re
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.dtypes import dtype_from_name, dtype_name, is_float
from exporter.core.errors import ExporterError, InputError, UnsafeInputError
from exporter.core.weightset import ModelInfo, Tensor, WeightSet, sha256_of
from exporter.files.archive import open_zip, read_member, stored_range
from exporter.files.inputs import Folder, InputFile, read_bounded, relative_parts
from exporter.files.maps import file_array
from exporter.formats import manifest as mf
from exporter.formats.textformat import parse_flat
from exporter.readers import DAMAGE_ERRORS, READERS, ZIP_MAGIC, Probe, Reader, ReadOptions

# ---------------------------------------------------------------- NPZ

# What reading a damaged .npy member raises: numpy parses its header with tokenize/ast, and a
# deflated member fails in zlib.
NPY_ERRORS = (
    ValueError, OSError, zipfile.BadZipFile, SyntaxError, EOFError, zlib.error, tokenize.TokenError,
)  # fmt: skip


def _is_npz(probe: Probe) -> bool:
    if not probe.head.startswith(ZIP_MAGIC):  # a folder's file names may end in .npy too
        return False
    npy = [m for m in probe.members if m.endswith(".npy")]
    others = [m for m in probe.members if not m.endswith(".npy") and not m.endswith("/")]
    if not npy:
        return others == ["manifest.json"]  # an export of a model with no tensors
    return set(others) <= {"manifest.json"}


def _npy_header(
    archive: zipfile.ZipFile, member: str, where: str
) -> tuple[np.dtype, tuple, bool, int]:
    """dtype and shape from a member's .npy header, refused unless the member holds exactly
    that many bytes (so a header declaring a huge shape is refused before anything is allocated)."""
    try:
        with archive.open(member) as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            header_size = handle.tell()
    except NPY_ERRORS as exc:
        raise InputError(f"{where}: member {member!r} is damaged or not a .npy ({exc})") from None
    if dtype.hasobject:
        raise UnsafeInputError(f"{where}: member {member!r} holds Python objects (pickle); refused")
    shape = tuple(int(n) for n in shape)
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    stored = archive.getinfo(member).file_size - header_size
    if declared != stored:
        raise InputError(
            f"{where}: member {member!r} declares {dtype}{list(shape)} ({declared:,} bytes) "
            f"but holds {stored:,} bytes; the file is damaged or crafted"
        )
    return dtype, shape, bool(fortran), header_size


def _native(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The stored array as dtype: exotic floats re-viewed from their uint storage, native order."""
    if array.dtype != dtype and array.dtype.itemsize == dtype.itemsize and array.dtype.kind == "u":
        array = array.view(dtype)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _npy_loader(source: InputFile, member: str, dtype: np.dtype):
    path = source.path

    def load() -> np.ndarray:
        try:
            with (
                source.reader() as raw,
                zipfile.ZipFile(raw) as archive,
                archive.open(member) as handle,
            ):
                array = np.lib.format.read_array(handle, allow_pickle=False)
        except NPY_ERRORS as exc:
            raise InputError(f"{path}: member {member!r} cannot be read ({exc})") from None
        return _native(array, dtype)

    return load


def _npy_mapper(
    source: InputFile, offset: int, stored: np.dtype, shape: tuple, fortran: bool, dtype
):
    """A loader that memory-maps a stored (uncompressed) member's data from the input's
    descriptor: nothing is copied until the values are used, so exporting from an NPZ streams
    from the page cache."""

    def load() -> np.ndarray:
        order = "F" if fortran else "C"
        array = file_array(source.fd, offset, stored, shape, str(source.path), order)
        return _native(array, dtype)

    return load


def _npz_loader(source: InputFile, archive: zipfile.ZipFile, member: str, dtype: np.dtype):
    """The fastest safe loader for one member: a memory map when stored, else a copy."""
    path = source.path
    stored, shape, fortran, header_size = _npy_header(archive, member, str(path))
    if stored.itemsize != dtype.itemsize:
        return stored, shape, None
    with source.reader() as handle:
        found = stored_range(handle, archive.getinfo(member), source.size)
    if found is None or not shape:
        return stored, shape, _npy_loader(source, member, dtype)
    offset = found[0] + header_size
    return stored, shape, _npy_mapper(source, offset, stored, shape, fortran, dtype)


def read_npz(source: InputFile, options: ReadOptions) -> WeightSet:
    path = source.path
    with open_zip(source) as archive:
        members = archive.namelist()
        text = _manifest_text(archive, path)
        if text is not None:
            manifest = mf.parse(text, f"{path}")
            ws = _from_manifest(path, manifest, "npz", lambda e: _npz_tensor(source, archive, e))
            listed = {e.get("location", f"{e['name']}.npy") for e in manifest["tensors"]}
            listed.add(RESAVED)
            _note_unlisted(ws, [m for m in members if m.endswith(".npy")], listed, "member")
            return ws
        ws = WeightSet(info=ModelInfo(kind="npz", file=path.name, naming="canonical"))
        for member in members:
            if member.endswith(".npy"):
                dtype, shape, _fortran, _size = _npy_header(archive, member, str(path))
                _, _, loader = _npz_loader(source, archive, member, dtype)
                ws.add(Tensor(member[:-4], dtype.newbyteorder("="), shape, loader))
        ws.info.warnings.append("plain .npz without a manifest: names are the archive's keys")
        return ws


RESAVED = "manifest.json.npy"  # dict(np.load(x)) then np.savez(**d) keeps it as a bytes array


def _manifest_text(archive: zipfile.ZipFile, path: Path) -> bytes | None:
    """The manifest of an NPZ: the manifest.json member, or the same text re-saved by numpy."""
    for member in ("manifest.json", RESAVED):
        if member in archive.NameToInfo:
            size = archive.getinfo(member).file_size
            if size > MAX_MANIFEST_BYTES:
                raise InputError(f"{path}: {member} is {size:,} bytes; refused")
            if member == "manifest.json":
                return read_member(archive, member, str(path))
            dtype, shape, _fortran, _size = _npy_header(archive, member, str(path))
            if shape or dtype.kind not in "SU":  # declared bytes == stored bytes <= the bound
                return None
            with archive.open(member) as stream:
                array = np.lib.format.read_array(stream, allow_pickle=False)
            if array.ndim == 0 and array.dtype.kind in "SU":
                value = array.item()
                return value.encode() if isinstance(value, str) else value
    return None


def _npz_tensor(source: InputFile, archive: zipfile.ZipFile, entry: dict[str, Any]) -> Tensor:
    path = source.path
    member = entry.get("location", f"{entry['name']}.npy")
    dtype = dtype_from_name(entry["dtype"])
    if member not in archive.NameToInfo:
        return _broken(entry, f"{path}: member {member!r} is missing")
    stored, _shape, loader = _npz_loader(source, archive, member, dtype)
    if loader is None:
        return _broken(entry, f"{path}: member {member!r} is {stored}, manifest says {dtype}")
    return _tensor(entry, loader)


# ---------------------------------------------------------------- common

MAX_MANIFEST_BYTES = 256 << 20


def _note_unlisted(ws: WeightSet, present: list[str], listed: set[str], what: str) -> None:
    """Warn about data the manifest does not list (it is not read)."""
    extra = sorted(set(present) - listed)
    if extra:
        shown = ", ".join(repr(x) for x in extra[:3]) + (" ..." if len(extra) > 3 else "")
        ws.info.warnings.append(
            f"{len(extra)} {what}(s) not listed in the manifest were ignored: {shown}"
        )


def _tensor(entry: dict[str, Any], loader) -> Tensor:
    return Tensor(
        entry["name"],
        dtype_from_name(entry["dtype"]),
        tuple(entry["shape"]),
        loader,
        trainable=entry.get("trainable"),
        origin=entry.get("origin"),
        sha256=entry["sha256"],
    )


def _broken(entry: dict[str, Any], message: str) -> Tensor:
    """A tensor whose data cannot be found: reading it raises (validate reports it)."""

    def fail() -> np.ndarray:
        raise InputError(message)

    return _tensor(entry, fail)


def _hash_checked(loader, entry: dict[str, Any], warnings: list[str], where: str):
    """loader, checked: the data must have the manifest's dtype and shape (else InputError
    naming the file and tensor), and a sha256 that differs from the manifest's is noted in warnings.

    A mismatch is a warning, not an error: an export edited by hand is still data (apply reads
    one), and `validate` is the command that fails on it. inspect and export print the warning,
    and an export made from it records it in its own manifest.
    """

    dtype, shape = dtype_from_name(entry["dtype"]), tuple(entry["shape"])

    def load() -> np.ndarray:
        try:
            array = np.asarray(loader())
        except ExporterError:
            raise
        except (*DAMAGE_ERRORS, csv.Error) as exc:
            raise InputError(
                f"{where}: tensor {entry['name']!r} cannot be read, the data is damaged "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            ) from None
        if array.dtype != dtype or tuple(array.shape) != shape:
            raise InputError(
                f"{where}: tensor {entry['name']!r}: data is {dtype_name(array.dtype)}"
                f"{list(array.shape)}, the manifest says {entry['dtype']}{list(shape)}"
            )
        if sha256_of(array) != entry["sha256"]:
            note = (
                f"tensor {entry['name']!r}: data does not match the manifest's sha256 "
                "(edited or damaged; run exporter validate)"
            )
            if note not in warnings:
                warnings.append(note)
        return array

    return load


def _from_manifest(path: Path, manifest: dict, kind: str, make) -> WeightSet:
    info = mf.info_from_manifest(manifest, kind, path.name)
    info.extra["manifest"] = manifest
    _check_totals(manifest, str(path))
    ws = WeightSet(info=info)
    for entry in manifest["tensors"]:
        tensor = make(entry)
        if tensor.sha256 is not None:
            tensor.source = _hash_checked(tensor.source, entry, info.warnings, str(path))
        ws.add(tensor)
    return ws


def _check_totals(manifest: dict, where: str) -> None:
    """The manifest's totals must agree with its own tensor list."""
    totals, entries = manifest.get("totals"), manifest["tensors"]
    if not isinstance(totals, dict):
        return
    count = sum(int(np.prod(e["shape"], dtype=object)) for e in entries)
    found = {"tensors": len(entries), "parameters": count}
    for key, value in found.items():
        if key in totals and totals[key] != value:
            raise InputError(
                f"{where}: manifest totals say {totals[key]} {key} but it lists {value}; "
                "the manifest is damaged"
            )


def _fast_values(values: Any, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """Nested JSON numbers straight to an array in C, or None when the slow path must decide
    (tokens for NaN payloads, ragged or mistyped values, zero-size shapes)."""
    if 0 in shape:
        return None
    try:
        if is_float(dtype):  # "NaN"/"Infinity" tokens parse as float(); payload tokens do not
            array = np.array(values, dtype=np.float64)
        else:
            array = np.array(values)
            if array.dtype.kind not in ("b" if dtype == np.bool_ else "iu"):
                return None
    except (ValueError, TypeError, OverflowError):
        return None
    if array.shape != shape:
        return None
    if array.dtype.kind in "iu" and array.size:
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            return None
    return array.astype(dtype)


def _values(values: Any, entry: dict[str, Any], where: str) -> np.ndarray:
    """Nested JSON values -> array of the entry's dtype and shape."""
    dtype = dtype_from_name(entry["dtype"])
    fast = _fast_values(values, dtype, tuple(entry["shape"]))
    if fast is not None:
        return fast
    try:
        nested = np.array(values, dtype=object)
    except ValueError:
        raise InputError(f"{where}: tensor {entry['name']!r} values are ragged") from None
    shape = tuple(entry["shape"])
    if nested.size == 0 and 0 in shape and nested.shape == shape[: nested.ndim]:
        nested = np.empty(shape, dtype=object)  # JSON writes [] for (0, 3), [[]] for (1, 0, 2)
    if tuple(nested.shape) != tuple(entry["shape"]):
        raise InputError(
            f"{where}: tensor {entry['name']!r} has shape {list(nested.shape)}, "
            f"manifest says {entry['shape']}"
        )
    flat = nested.reshape(-1)
    if dtype.kind == "f" or dtype_name(dtype) in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        strings = [v if isinstance(v, str) else repr(float(v)) for v in flat.tolist()]
    elif dtype == np.bool_:
        strings = ["true" if v is True else "false" if v is False else str(v) for v in flat]
    else:
        strings = [str(v) for v in flat.tolist()]
    return parse_flat(strings, dtype, f"{where}: tensor {entry['name']!r}").reshape(nested.shape)


# ---------------------------------------------------------------- JSON


_JSON_EXPORT_START = re.compile(rb'\s*\{\s*"(data|manifest)"\s*:')


def _is_json_export(probe: Probe) -> bool:
    """Our layout ({"data": ..., "manifest": ...}, in either order, any indentation), or any
    JSON object that names the format near its start."""
    if probe.is_dir:
        return False
    if b'"exporter.weights"' in probe.head and probe.head.lstrip().startswith(b"{"):
        return True
    return bool(_JSON_EXPORT_START.match(probe.head)) and probe.suffix.endswith(".json")


def read_json(source: InputFile, options: ReadOptions) -> WeightSet:
    import orjson

    path = source.path
    text = read_bounded(source.fd, source.size, str(path))  # the file's size is the bound
    try:
        document = orjson.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise InputError(f"{path}: not an exporter JSON export (no 'data' object)")
    manifest = mf.check(document.get("manifest"), str(path))
    data = document["data"]

    def make(entry: dict[str, Any]) -> Tensor:
        if entry["name"] not in data:
            return _broken(entry, f"{path}: tensor {entry['name']!r} has no data")
        return _tensor(entry, lambda: _values(data[entry["name"]], entry, str(path)))

    return _from_manifest(path, manifest, "json", make)


# ---------------------------------------------------------------- CSV


def _is_csv_export(probe: Probe) -> bool:
    return probe.is_dir and "manifest.json" in probe.members


# Bytes one value may take in CSV text, separator and stray spaces included (the writer's longest
# token is 24: "-2.2250738585072014e-308"), and the slack on top: a data file is refused before
# it is read when it is larger than its manifest's values can need.
VALUE_WIDTH = 64
TEXT_SLACK = 64 << 10


def _values_in(entry: dict[str, Any]) -> int:
    return math.prod(int(n) for n in entry["shape"])  # Python ints: no int64 wraparound


def _read_data(folder: Folder, location: str, limit: int, where: str) -> bytes:
    """A data file of a CSV export: inside the folder, no symlink on the way, a regular file
    (checked on the descriptor, so a FIFO or device is refused unread), at most limit bytes."""
    parts = relative_parts(location, where, "manifest location", "the folder")
    return folder.read(parts, limit, where, f"data file {location!r}")


def wide_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, values per row) of a tensor in the wide CSV layout."""
    if not shape:
        return (1, 1)
    if len(shape) == 1:
        return (shape[0], 1)
    return (shape[0], math.prod(int(n) for n in shape[1:]))


def _fast_wide(raw: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray | None:
    """Float values of a wide CSV parsed in C, the row structure checked on the bytes; None
    when the slow path must decide (other dtypes, NaN payload tokens, CRLF, damage)."""
    rows, width = wide_shape(shape)
    if not is_float(dtype) or rows * width == 0 or not raw.endswith(b"\n") or b"\r" in raw:
        return None
    buf = np.frombuffer(raw, np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    commas = np.flatnonzero(buf == ord(","))
    per_row = np.bincount(np.searchsorted(ends, commas), minlength=len(ends))
    if len(ends) != rows or np.any(per_row != width - 1):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, not raises, when a token does not parse
        try:
            flat = np.fromstring(raw.replace(b"\n", b",").decode("ascii"), np.float64, sep=",")
        except (ValueError, DeprecationWarning, UnicodeDecodeError):
            return None
    if flat.size != rows * width:
        return None
    return flat.astype(dtype).reshape(shape)


def _read_wide(folder: Folder, entry: dict[str, Any]) -> np.ndarray:
    where = f"{folder.path}: tensor {entry['name']!r}"
    rows = wide_shape(tuple(entry["shape"]))[0]
    limit = _values_in(entry) * VALUE_WIDTH + 2 * rows + TEXT_SLACK  # 2: "\r\n" of empty rows
    raw = _read_data(folder, entry["location"], limit, where)
    shape = tuple(entry["shape"])
    fast = _fast_wide(raw, dtype_from_name(entry["dtype"]), shape)
    if fast is not None:
        return fast
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{where}: {entry['location']} is not UTF-8 text") from None
    rows = [line.split(",") for line in text.splitlines()]
    expected = wide_shape(shape)
    found = (len(rows), max((len(r) for r in rows), default=0)) if rows else (0, expected[1])
    if expected[1] == 0 and all(r == [""] for r in rows):
        found = (len(rows), 0)
    ragged = expected[1] and any(len(r) != found[1] for r in rows)
    if found != expected or ragged:
        raise InputError(
            f"{where}: {entry['location']} has {found[0]} rows of "
            f"{found[1]} values, shape {list(shape)} needs {expected[0]} of {expected[1]}"
        )
    strings = [s.strip() for row in rows for s in row if expected[1]]
    return parse_flat(strings, dtype_from_name(entry["dtype"]), where).reshape(shape)


def _long_limit(entries: list[dict[str, Any]]) -> int:
    """The most bytes the long table of entries can need: per value its name (quoted, quotes
    doubled), an index, a value and separators."""
    per_name = (_values_in(e) * (2 * len(e["name"].encode()) + 24 + VALUE_WIDTH) for e in entries)
    return sum(per_name) + TEXT_SLACK


def _read_long(folder: Folder, entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {e["name"]: [] for e in entries}
    if not entries:
        return columns
    location = entries[0]["location"]
    table = f"{folder.path}/{location}"
    raw = _read_data(folder, location, _long_limit(entries), str(folder.path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{table}: not UTF-8 text") from None
    del raw
    with io.StringIO(text, newline="") as handle:
        rows = csv.reader(handle)
        if next(rows, None) != ["tensor", "index", "value"]:
            raise InputError(f"{table}: header must be tensor,index,value")
        for row in rows:
            if len(row) != 3 or row[0] not in columns:
                raise InputError(f"{table}: bad row {row[:3]!r}")
            values = columns[row[0]]
            if int(row[1]) != len(values):
                raise InputError(f"{table}: tensor {row[0]!r} index {row[1]} out of order")
            values.append(row[2])
    return columns


def read_csv(source: InputFile, options: ReadOptions) -> WeightSet:
    """A CSV export folder, kept open: every file is read relative to the folder's descriptor
    (the one detection listed)."""
    path = source.path
    folder = source.folder()
    text = folder.read(("manifest.json",), MAX_MANIFEST_BYTES, str(path), "manifest.json")
    manifest = mf.parse(text, str(path / "manifest.json"))
    if manifest.get("layout", "wide") == "long":
        columns: dict[str, list[str]] | None = None

        def long_values(entry: dict[str, Any]) -> np.ndarray:
            nonlocal columns
            if columns is None:
                columns = _read_long(folder, manifest["tensors"])
            strings, shape = columns[entry["name"]], tuple(entry["shape"])
            if len(strings) != _values_in(entry):
                raise InputError(f"{path}: tensor {entry['name']!r} has {len(strings)} values")
            where = f"{path}: tensor {entry['name']!r}"
            return parse_flat(strings, dtype_from_name(entry["dtype"]), where).reshape(shape)

        return _from_manifest(path, manifest, "csv", lambda e: _tensor(e, lambda: long_values(e)))
    return _from_manifest(
        path, manifest, "csv", lambda e: _tensor(e, lambda: _read_wide(folder, e))
    )


# ---------------------------------------------------------------- safetensors


def _is_safetensors(probe: Probe) -> bool:
    head = probe.head
    if len(head) < 10 or probe.is_dir:
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= 100_000_000 and head[8:9] == b"{"


def read_safetensors(source: InputFile, options: ReadOptions) -> WeightSet:
    from safetensors import SafetensorError, safe_open

    from exporter.formats.safetensors import METADATA_KEY

    path = source.path
    try:  # the library validates the header: offsets in order, inside the file, no overlap
        with safe_open(_library_path(source), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            keys = list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a valid safetensors file ({exc})") from None
    header, data_start = _safetensors_header(source.fd, path)  # the same inode the library read

    def loader(key: str):
        return _safetensors_loader(source, key, header[key], data_start)

    if METADATA_KEY in metadata:
        manifest = mf.parse(metadata[METADATA_KEY], str(path))

        def make(entry: dict[str, Any]) -> Tensor:
            key = entry.get("location", entry["name"])
            if key not in keys:
                return _broken(entry, f"{path}: tensor {key!r} is missing")
            return _tensor(entry, loader(key))

        ws = _from_manifest(path, manifest, "safetensors", make)
        listed = {e.get("location", e["name"]) for e in manifest["tensors"]}
        _note_unlisted(ws, keys, listed, "tensor")
        return ws
    ws = WeightSet(info=ModelInfo(kind="safetensors", file=path.name))
    ws.info.extra["metadata"] = metadata
    for key in keys:  # safetensors lists keys sorted; the file keeps no other order
        dtype = _safetensors_dtype(path, key, header[key])
        ws.add(Tensor(key, dtype, tuple(header[key]["shape"]), loader(key), origin=key))
    return ws


def _safetensors_dtype(path: Path, key: str, spec: dict[str, Any]) -> np.dtype:
    codes = safetensors_dtypes()
    if spec.get("dtype") not in codes:
        raise InputError(f"{path}: tensor {key!r} has unsupported dtype {spec.get('dtype')}")
    return dtype_from_name(codes[spec["dtype"]])


def _library_path(source: InputFile) -> str:
    """A path to the input's very inode for safetensors, which opens files by path only
    (/proc/self/fd or /dev/fd); refused where the platform has neither."""
    found = source.library_path()
    if found is None:
        raise InputError(
            f"{source.path}: this platform has no /proc/self/fd or /dev/fd, so the safetensors "
            "library cannot be handed the checked file; convert it on Linux"
        )
    return found


def _safetensors_loader(source: InputFile, key: str, spec: dict[str, Any], data_start: int):
    """Memory-map one tensor's bytes (every dtype, float8 included; nothing copied) from the
    input's checked descriptor."""
    path = source.path
    dtype = _safetensors_dtype(path, key, spec)
    shape = tuple(int(n) for n in spec["shape"])
    begin, end = (int(n) for n in spec["data_offsets"])

    def load() -> np.ndarray:
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize:
            raise InputError(f"{path}: tensor {key!r} holds {end - begin} bytes, not {shape}")
        where = f"{path}: tensor {key!r}"
        return file_array(source.fd, data_start + begin, dtype, shape, where)

    return load


@functools.cache
def safetensors_dtypes() -> dict[str, str]:
    """ "F32" -> "float32": the writer's table, inverted (imported when first needed)."""
    from exporter.formats.safetensors import DTYPE_CODES

    return {code: name for name, code in DTYPE_CODES.items()}


def _safetensors_header(fd: int, path: Path) -> tuple[dict[str, Any], int]:
    """The header's tensor entries and where the data starts (after safe_open checked it)."""
    size = int.from_bytes(os.pread(fd, 8, 0), "little")
    if size > os.fstat(fd).st_size:
        raise InputError(f"{path}: the safetensors header is larger than the file")
    header = json.loads(os.pread(fd, size, 8))
    header.pop("__metadata__", None)
    return header, 8 + size


READERS.register("npz", Reader("npz", _is_npz, read_npz, "NumPy .npz (exporter export or plain)"))
READERS.register("json", Reader("json", _is_json_export, read_json, "exporter JSON export"))
READERS.register("csv", Reader("csv", _is_csv_export, read_csv, "exporter CSV folder"))
READERS.register(
    "safetensors",
    Reader("safetensors", _is_safetensors, read_safetensors, "safetensors file"),
)
