"""C source: one header with every tensor as an aligned `static const` array, for firmware and
native code (`--format c`, or an output ending in `.h`).

The file opens with the manifest as a comment (c_source.manifest_comment), then the macros,
one array per tensor (`<PREFIX>_ARRAY(<identifier>, <C type>, <count>, <align>) = {` ... `};`,
its values as exact literals, c_text), and a descriptor table `<prefix>_tensors`. Tensors are
read once, one at a time, and written in blocks of c_text.BLOCK_VALUES values while a second
thread hashes them, so memory is one tensor plus one block of text. The manifest comes first but
its hashes are known last: it is written with placeholder hashes and rewritten in place at the
end (a sha256 always has 64 characters, so nothing moves).

Read back (it is a source too) by parsing exactly the literals written: the manifest comment is
read bounded by the metadata limit; one scan finds each array's definition line; each tensor's
text is parsed when it is read (c_parse.parse_body), strictly, and checked against its manifest
entry like every export.
"""

from __future__ import annotations

import copy
import mmap
import os
import re
import shutil
from pathlib import Path

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_from_name, dtype_name
from exporter.core.errors import InputError, UnsafeInputError, UsageError
from exporter.core.version import __version__
from exporter.core.weightset import ModelInfo, Tensor, WeightSet
from exporter.files.archive import declared_nbytes, metadata_limit
from exporter.files.inputs import InputFile
from exporter.files.kernel_copy import OutputFile
from exporter.formats import c_source as cs
from exporter.formats import manifest as mf
from exporter.formats.common import Entry, broken_tensor, entry_tensor, from_manifest
from exporter.readers import READERS, Probe, Reader, ReadOptions
from exporter.writers import WRITERS, Locations, WriteOptions, Writer, write_and_hash

# Headers above this size are slow or fatal for some toolchains (editors, IDE indexers, older
# compilers' memory): the export says so, and writes it all the same.
BIG_HEADER_BYTES = 256 << 20
PLACEHOLDER = "0" * 64  # a tensor's sha256 in the manifest comment until it is written
# Reading the tensors can add warnings to the manifest (an edited export whose data no longer
# matches its hashes): the comment reserves this much room for them.
HEAD_SLACK = 4096

# ---------------------------------------------------------------- writing


def check_options(options: WriteOptions) -> None:
    """UsageError for C options that cannot be written."""
    align = options.c_align
    if not isinstance(align, int) or align < 1 or align > 1 << 16 or align & (align - 1):
        raise UsageError(f"--c-align {align!r} must be a power of two between 1 and 65536")
    if options.c_prefix is not None:
        cs.check_prefix(options.c_prefix)
    section = options.c_section
    if section is not None and not re.fullmatch(r"[A-Za-z0-9_.$]{1,200}", section):
        raise UsageError(f"--c-section {section!r}: use letters, digits, `_`, `.` and `$` only")


def _write_array(out, prefix, ident, ctype, array, align) -> None:
    """One array: its macros, its definition line, its values, its closing brace."""
    from exporter.formats import c_text as ct  # imported when a C export is written or read

    shape = tuple(int(d) for d in array.shape)
    count = max(array.size, 1)
    head = cs.array_head(prefix, ident, ctype, count, max(align, ct.C_ITEMSIZE[ctype]), shape)
    out.write(head.encode())
    if array.size:
        for block in ct.blocks(ct.storage_view(array, ctype), ctype):
            out.write(block)
    else:  # ISO C has no zero-length arrays
        out.write(ct.format_block(np.zeros(1, ct.numpy_type(ctype)), ctype))
    out.write(cs.array_tail(ident, ctype, count, prefix).encode())


def write_c(ws: WeightSet, path: Path, options: WriteOptions, locations: Locations) -> dict:
    """Write ws as one C header at path; returns the manifest (plus a warning for a header
    bigger than BIG_HEADER_BYTES)."""
    check_options(options)
    prefix = options.c_prefix or cs.default_prefix(path)
    extra = [(name, np.asarray(array)) for name, array in options.c_extra]
    for name, _ in extra:
        if name not in cs.TEST_ARRAYS:
            raise UsageError(f"unknown extra C array {name!r}; known: {', '.join(cs.TEST_ARRAYS)}")
    idents = cs.plan_identifiers(ws.names(), prefix)
    entries = [mf.TensorEntry(t, PLACEHOLDER, ident) for t, ident in zip(ws, idents, strict=True)]
    sized = mf.build(_stand_in(ws.info), entries, created=options.created_at)
    reserved = len(cs.manifest_comment(sized, __version__)) + HEAD_SLACK
    comment = cs.manifest_comment(sized, __version__, reserved)
    with OutputFile(path) as out:
        out.write(comment)  # hashes to come: rewritten in place once known (see _rewrite_head)
        out.write(
            cs.preamble(
                prefix, options.c_align, options.c_section, options.c_progmem, options.c_split
            ).encode()
        )
        rows = _write_tensors(out, prefix, entries, options)
        _write_extra(out, prefix, extra, options.c_align)
        out.write(cs.descriptor(prefix, rows).encode())
        out.write(cs.postamble(prefix).encode())
        size = out.tell()
    manifest = mf.build(ws.info, entries, created=options.created_at)
    _rewrite_head(path, reserved, cs.manifest_comment(manifest, __version__, reserved))
    if size > BIG_HEADER_BYTES:
        manifest = {**manifest, "warnings": [*manifest.get("warnings", []), _big(path, size)]}
    return manifest


def _write_tensors(out, prefix: str, entries: list[mf.TensorEntry], options: WriteOptions):
    """Every tensor's array, one tensor in memory at a time, hashed while it is written (each
    entry gets its sha256); returns the descriptor rows."""
    from exporter.formats import c_text as ct  # imported when a C export is written or read

    rows = []
    for entry in entries:
        tensor, ident = entry.tensor, entry.location
        array = as_little_endian(tensor.read())
        ctype = ct.c_type(dtype_name(array.dtype), array)

        def write(a, ident=ident, ctype=ctype) -> None:
            _write_array(out, prefix, ident, ctype, a, options.c_align)

        entry.sha256 = write_and_hash(array, write)
        rows.append((tensor.name, dtype_name(array.dtype), ident, array.nbytes, array.shape))
        del array
        if options.progress:
            options.progress(tensor.name)
    return rows


def _stand_in(info: ModelInfo) -> ModelInfo:
    """info with a stand-in for a source digest still being computed (ModelInfo.digest): the
    comment is sized without waiting for the source file to be hashed."""
    if not callable(getattr(info, "digest", None)):
        return info
    stand_in = copy.copy(info)
    stand_in.digest = PLACEHOLDER
    return stand_in


def _rewrite_head(path: Path, reserved: int, comment: bytes) -> None:
    """The manifest comment with the real hashes over the reserved bytes at the start (padded
    to fit); when reading the tensors added more warnings than the slack holds, the file is
    written again behind a comment of the right size (the rest copied after it)."""
    if len(comment) == reserved:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, comment, 0)
        finally:
            os.close(fd)
        return
    bigger = path.with_name(path.name + ".tmp")
    with open(path, "rb") as old, open(bigger, "wb") as new:
        new.write(comment)
        old.seek(reserved)
        shutil.copyfileobj(old, new, 1 << 20)
    os.replace(bigger, path)


def _big(path: Path, size: int) -> str:
    return (
        f"{path.name} is {size / (1 << 20):,.0f} MiB of C; headers over "
        f"{BIG_HEADER_BYTES >> 20} MiB are slow or fail in some toolchains (compile it as "
        "its own translation unit, or export to a binary format and embed that)"
    )


def _write_extra(out, prefix: str, extra: list[tuple[str, np.ndarray]], align: int) -> None:
    """Test vectors: `<prefix>_test_inputs` / `_test_outputs` (not tensors of the manifest)."""
    from exporter.formats import c_text as ct  # imported when a C export is written or read

    if not extra:
        return
    count = extra[0][1].shape[0] if extra[0][1].ndim else 1
    out.write(b"/* Test vectors: seeded inputs and the source model's outputs. */\n")
    out.write(f"#define {prefix.upper()}_TEST_COUNT {count}\n".encode())
    for name, array in extra:
        array = as_little_endian(np.ascontiguousarray(array))
        ctype = ct.c_type(dtype_name(array.dtype), array)
        _write_array(out, prefix, f"{prefix}_test_{name}", ctype, array, align)


# ---------------------------------------------------------------- reading

_DEFINITION = re.compile(
    rb"([A-Za-z_][A-Za-z0-9_]*)_ARRAY\(([A-Za-z_][A-Za-z0-9_]*), ([a-z0-9_]{1,12}), "
    rb"([0-9]{1,20}), ([0-9]{1,6})\) = \{\n"
)
_MARK = b"_ARRAY("


def detect_c(probe: Probe) -> bool:
    return not probe.is_dir and probe.head.startswith(cs.MAGIC)


def _read_manifest(source: InputFile) -> tuple[dict, int]:
    """The manifest comment, read at most the metadata limit (+ its markers) into the file;
    returns it and the offset where the C text after it begins."""
    limit = metadata_limit()
    where = str(source.path)
    head, want = b"", 1 << 16
    while True:  # read more (doubling) until the comment ends, the file ends or the limit
        head += os.pread(source.fd, min(want, limit + 4096) - len(head), len(head))
        end = head.find(cs.MANIFEST_END)
        if end >= 0 or len(head) < want or want > limit:
            break
        want *= 2
    start = head.find(cs.MANIFEST_START)
    if start < 0 or start > 4096:
        raise InputError(f"{where}: a C export without its manifest comment; the file is damaged")
    if end < 0:
        if len(head) > limit:
            raise UnsafeInputError(
                f"{where}: the manifest comment is longer than the {limit:,}-byte limit for a "
                "metadata document; refused (set EXPORTER_MAX_METADATA_BYTES if it is trusted)"
            )
        raise InputError(f"{where}: the manifest comment never ends; the file is truncated")
    text = head[start + len(cs.MANIFEST_START) : end]
    return mf.parse(text, where), end + len(cs.MANIFEST_END)


def _index(source: InputFile, offset: int) -> dict[str, tuple[str, int, int, int]]:
    """identifier -> (C type, count, first byte of the values, byte after them), from one scan
    of the definition lines after the manifest."""
    where, size = str(source.path), source.size
    found: dict[str, tuple[str, int, int, int]] = {}
    if size <= offset:
        return found
    with mmap.mmap(source.fd, size, prot=mmap.PROT_READ) as text:
        at, scanned, line_start = text.find(_MARK, offset), offset, offset
        while at >= 0:
            newline = text.rfind(b"\n", scanned, at)  # each byte scanned once, not per match
            line_start = newline + 1 if newline >= 0 else line_start
            scanned = at
            match = _DEFINITION.match(text, line_start, min(size, line_start + 512))
            if match is None or match.start(2) != at + len(_MARK):
                at = text.find(_MARK, at + 1)
                continue
            ident = match.group(2).decode()
            if ident in found:
                raise InputError(f"{where}: array {ident} is defined twice; the file is damaged")
            close = text.find(b"}", match.end())
            if close < 0:
                raise InputError(f"{where}: array {ident} never ends; the file is truncated")
            found[ident] = (match.group(3).decode(), int(match.group(4)), match.end(), close)
            at = text.find(_MARK, close)
    return found


def read_c(source: InputFile, options: ReadOptions) -> WeightSet:
    path = source.path
    manifest, offset = _read_manifest(source)
    arrays = _index(source, offset)

    def make(entry: Entry) -> Tensor:
        found = arrays.get(entry["location"])
        if found is None:
            return broken_tensor(entry, f"{path}: tensor {entry['name']!r} has no array")
        return entry_tensor(entry, lambda: _load(source, entry, found))

    return from_manifest(path, manifest, "c", make)


def _load(source: InputFile, entry: Entry, found: tuple[str, int, int, int]) -> np.ndarray:
    """One tensor's values, parsed from its array's text and checked against its entry."""
    from exporter.formats import c_parse
    from exporter.formats import c_text as ct  # imported when a C export is written or read

    ctype, count, start, stop = found
    where = f"{source.path}: tensor {entry['name']!r}"
    dtype = dtype_from_name(entry["dtype"])
    allowed = {ct.C_TYPES[entry["dtype"]], ct.BITS_TYPE.get(entry["dtype"])}
    if ctype not in allowed:
        raise InputError(f"{where}: written as {ctype}, not a C type of {entry['dtype']}")
    shape = tuple(entry["shape"])
    size = declared_nbytes(shape, 1, where)
    if count != max(size, 1):
        raise InputError(f"{where}: its array holds {count} values, the manifest says {size}")
    if stop - start < 2 * count:  # each value takes at least a digit and a comma
        raise InputError(f"{where}: its array is too short for {count} values; damaged")
    body = os.pread(source.fd, stop - start, start)
    values = c_parse.parse_body(body, ctype, count, where)
    if not size:
        return np.zeros(shape, dtype)
    if entry["dtype"] == "bool" and values.size and values.max() > 1:
        raise InputError(f"{where}: a bool value other than 0x00 or 0x01")
    return values.view(dtype).reshape(shape)


# ---------------------------------------------------------------- registration

READERS.register("c", Reader("c", detect_c, read_c, "exporter C export (header)"))
WRITERS.register(
    "c", Writer("c", (".h",), False, write_c, "C header: aligned static const arrays, exact")
)
