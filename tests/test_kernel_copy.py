"""Kernel copies (exporter/files/kernel_copy.py): bytes of a tensor memory-mapped from the source
file are copied from that file by the kernel (copy_file_range) instead of written from memory;
EXPORTER_NO_KERNEL_COPY=1 switches that off; a kernel or filesystem that cannot copy gets the
bytes from memory. The output is byte-identical every way. Also the file ranges the copies come
from (maps.file_extent) and the early write-back of a big output."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from safetensors.numpy import load_file

import exporter
from exporter.files.kernel_copy import NO_KERNEL_COPY_ENV


def _mapped(tmp_path, monkeypatch, values: np.ndarray, offset: int = 4099):
    """values written at an unaligned offset of a file, and the array mapping them back."""
    from exporter.files import maps as mapping

    monkeypatch.setattr(mapping, "SMALL_TENSOR_BYTES", 0)
    path = tmp_path / "source.bin"
    path.write_bytes(b"x" * offset + values.tobytes())
    return path, mapping.path_array(path, offset, values.dtype, values.shape, "source.bin")


def test_file_extent_finds_the_file_range_of_mapped_bytes_only(tmp_path, monkeypatch):
    import ctypes
    import gc
    import os

    from exporter.files import maps as mapping

    values = np.arange(1 << 16, dtype=np.float32)
    _, array = _mapped(tmp_path, monkeypatch, values)
    fd, offset = mapping.file_extent(array[1000:2000])
    assert offset == 4099 + 4000
    assert os.pread(fd, 4000, offset) == values[1000:2000].tobytes()
    assert mapping.file_extent(values) is None  # ordinary memory
    assert mapping.file_extent(np.ascontiguousarray(array[::-1])) is None  # a copy
    # Found by ownership, not address: the same bytes reached another way are not a file range
    # (so memory that takes the place of a freed map can never be taken for the file).
    start = array.__array_interface__["data"][0]
    alias = np.frombuffer((ctypes.c_char * 4000).from_address(start + 4000), np.uint8)
    assert alias.tobytes() == values[1000:2000].tobytes()
    assert mapping.file_extent(alias) is None
    path = tmp_path / "source.bin"
    others = [mapping.path_array(path, 4099, np.float32, (1 << 16,), "s") for _ in range(50)]
    assert {mapping.file_extent(o)[0] for o in others} == {fd}  # one descriptor per file
    del array
    others.pop()
    gc.collect()
    assert mapping.file_extent(others[0])[0] == fd  # still open while a map of the file lives
    del others
    gc.collect()
    assert mapping.file_extent(np.zeros(8)) is None
    with pytest.raises(OSError):  # the last map took the descriptor with it
        os.fstat(fd)


def _record_copies(monkeypatch) -> list[int]:
    import os

    calls: list[int] = []
    real = os.copy_file_range

    def counting(src, dst, count, offset_src=None, offset_dst=None):
        calls.append(count)
        return real(src, dst, count, offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", counting)
    return calls


NO_COPY_FILE_RANGE = not hasattr(__import__("os"), "copy_file_range")


@pytest.mark.skipif(NO_COPY_FILE_RANGE, reason="no copy_file_range")
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_mapped_tensors_are_copied_by_the_kernel_and_come_out_identical(tmp_path, monkeypatch, fmt):
    monkeypatch.delenv(NO_KERNEL_COPY_ENV, raising=False)  # the switch unset: kernel copies on
    values = np.random.default_rng(3).standard_normal((512, 1024)).astype(np.float32)
    _, array = _mapped(tmp_path, monkeypatch, values)
    calls = _record_copies(monkeypatch)
    ws = exporter.WeightSet(
        [
            exporter.Tensor.from_array("a/small", np.arange(5.0)),
            exporter.Tensor.from_array("b", array),
        ]
    )
    out = tmp_path / f"out.{fmt}"
    manifest = exporter.export(ws, out)
    assert sum(calls) == values.nbytes  # the big tensor, and only it, went through the kernel
    back = np.load(out)["b"] if fmt == "npz" else load_file(str(out))["b"]
    assert back.tobytes() == values.tobytes()
    assert exporter.validate(out).ok
    assert manifest["tensors"][1]["sha256"] == __import__("hashlib").sha256(values).hexdigest()


@pytest.mark.skipif(NO_COPY_FILE_RANGE, reason="no copy_file_range")
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_without_kernel_copies_the_bytes_are_written_from_memory(tmp_path, monkeypatch, fmt):
    """EXPORTER_NO_KERNEL_COPY=1: copy_file_range is never called, every byte goes through
    write(), and the same file comes out as with kernel copies ("0" or empty: copies on)."""
    values = np.random.default_rng(4).standard_normal((256, 1024)).astype(np.float32)
    _, array = _mapped(tmp_path, monkeypatch, values)
    ws = exporter.WeightSet([exporter.Tensor.from_array("b", array)])
    calls = _record_copies(monkeypatch)
    outputs = {}
    for switch in ("0", "1", ""):
        monkeypatch.setenv(NO_KERNEL_COPY_ENV, switch)
        calls.clear()
        outputs[switch] = tmp_path / f"switch{switch or '-empty'}.{fmt}"
        exporter.export(ws, outputs[switch], created_at="2026-01-01T00:00:00Z")
        copied = sum(calls)
        assert copied == (0 if switch == "1" else values.nbytes), (switch, copied)
    assert len({path.read_bytes() for path in outputs.values()}) == 1


@pytest.mark.skipif(NO_COPY_FILE_RANGE, reason="no copy_file_range")
@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_a_kernel_that_cannot_copy_gets_the_bytes_from_memory(tmp_path, monkeypatch, fmt):
    """Another filesystem (EXDEV) or a kernel without copy_file_range: one refused try, then
    the bytes are written from memory and the same file comes out."""
    import errno
    import os

    monkeypatch.delenv(NO_KERNEL_COPY_ENV, raising=False)
    values = np.random.default_rng(4).standard_normal((256, 1024)).astype(np.float32)
    _, array = _mapped(tmp_path, monkeypatch, values)
    ws = exporter.WeightSet([exporter.Tensor.from_array("b", array)])
    exporter.export(ws, tmp_path / f"copied.{fmt}", created_at="2026-01-01T00:00:00Z")
    refused: list[int] = []

    def refuse(src, dst, count, offset_src=None, offset_dst=None):
        refused.append(count)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    exporter.export(ws, tmp_path / f"written.{fmt}", created_at="2026-01-01T00:00:00Z")
    assert refused == [values.nbytes]  # the kernel was asked, refused, and was not asked again
    copied, written = (
        (tmp_path / f"copied.{fmt}").read_bytes(),
        (tmp_path / f"written.{fmt}").read_bytes(),
    )
    assert copied == written


def test_a_copy_that_stops_short_is_finished_from_memory(tmp_path, monkeypatch):
    """copy_file_range copying nothing (a filesystem quirk) must not cut the output short: the
    rest comes from the memory the hashes were computed from."""
    import os

    monkeypatch.delenv(NO_KERNEL_COPY_ENV, raising=False)
    values = np.random.default_rng(5).standard_normal((256, 1024)).astype(np.float32)
    _, array = _mapped(tmp_path, monkeypatch, values)
    real, calls = os.copy_file_range, []

    def stops(src, dst, count, offset_src=None, offset_dst=None):
        calls.append(count)
        return real(src, dst, min(count, 100_000), offset_src, offset_dst) if len(calls) < 3 else 0

    monkeypatch.setattr(os, "copy_file_range", stops)
    out = tmp_path / "out.npz"
    exporter.export(exporter.WeightSet([exporter.Tensor.from_array("b", array)]), out)
    assert len(calls) == 3 and np.load(out)["b"].tobytes() == values.tobytes()
    assert exporter.validate(out).ok


def test_output_hands_written_ranges_over_for_write_back(tmp_path, monkeypatch):
    import os

    from exporter.files import kernel_copy

    advised: list[tuple[int, int]] = []
    real = os.posix_fadvise

    def record(fd, offset, length, advice):
        if advice == os.POSIX_FADV_DONTNEED:
            advised.append((offset, length))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    monkeypatch.setattr(kernel_copy, "WRITEBACK_BYTES", 1 << 20)
    ws = exporter.WeightSet(
        [
            exporter.Tensor.from_array(f"t{i}", np.arange(300_000, dtype=np.float32) + i)
            for i in range(6)
        ]
    )  # 6 x 1.2 MB
    out = tmp_path / "out.safetensors"
    exporter.export(ws, out)
    assert len(advised) >= 5
    assert advised[0][0] == 0 and all(
        a + n == b for (a, n), (b, _) in itertools.pairwise(advised)
    )  # one contiguous run from the start, in order
    assert advised[-1][0] + advised[-1][1] <= out.stat().st_size
    assert exporter.validate(out).ok
