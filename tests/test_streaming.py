"""Writers stream: memory stays at one tensor plus a fixed overhead whatever the model's size,
JSON/CSV text is exact across block boundaries, and safetensors files we write ourselves load
with the safetensors library and are byte-identical run to run."""

from __future__ import annotations

import json
import tracemalloc

import ml_dtypes
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import exporter
from exporter.formats.csv_text import wide_pieces, wide_text
from exporter.formats.json_text import json_pieces, tensor_json
from exporter.formats.safetensors import METADATA_KEY
from exporter.formats.textformat import CHUNK_VALUES

MB = 1 << 20
OVERHEAD = 16 * MB  # measured: NPZ ~2 MB, safetensors ~0, JSON/CSV ~3 MB (ints), ~12 MB (floats)
FORMATS = {"npz": "m.npz", "safetensors": "m.safetensors", "json": "m.json", "csv": "m-csv"}


def lazy_weightset(count: int, values: int, dtype=np.float32) -> exporter.WeightSet:
    """count tensors of `values` each, created only when a writer reads them."""
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", model_name="lazy"))
    for index in range(count):

        def load(seed=index) -> np.ndarray:
            array = np.arange(values, dtype=dtype)
            array += seed  # in place: the loader itself never holds two copies
            return array

        ws.add(exporter.Tensor(f"layer{index}/kernel", np.dtype(dtype), (values,), load))
    return ws


@pytest.mark.parametrize("fmt", FORMATS)
def test_peak_memory_is_one_tensor_plus_overhead(tmp_path, fmt):
    # A model of 6 tensors: holding it all, or the previous tensor while reading the next,
    # goes over the bound. Text formats use int32 (the same streaming path, without the float
    # check whose Python floats make tracemalloc slow); float blocks are bounded by design and
    # checked by the block-size tests below.
    binary = fmt in ("npz", "safetensors")
    values = 8 * MB if binary else 6 * MB
    ws = lazy_weightset(6, values, np.float32 if binary else np.int32)
    largest = values * 4
    tracemalloc.start()
    try:
        exporter.export(ws, tmp_path / FORMATS[fmt], format=fmt)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak >= largest  # numpy reports its buffers to tracemalloc: the tensor itself is seen
    assert peak <= largest + OVERHEAD, f"{fmt}: peak {peak / MB:.0f} MB for {largest / MB:.0f} MB"


def specials(size: int, dtype) -> np.ndarray:
    """Random values with NaN, +-Inf, -0.0 and payload NaNs spread over the whole array."""
    rng = np.random.default_rng(7)
    array = rng.normal(0, 100, size).astype(dtype)
    spots = rng.choice(size, 40, replace=False)
    array[spots[:8]] = np.nan
    array[spots[8:16]] = np.inf
    array[spots[16:24]] = -np.inf
    array[spots[24:32]] = -0.0
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize]
    payload = {2: 0x7E01, 4: 0x7FC00001, 8: 0xFFF8000000000001}[array.dtype.itemsize]
    array.view(uint)[spots[32:]] = payload
    return array


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("shape", [(60,), (6, 10), (20, 3), (2, 3, 10)], ids=str)
def test_text_is_the_same_whatever_the_block_size(dtype, shape):
    array = specials(int(np.prod(shape)), dtype).reshape(shape)
    whole_json = b"".join(json_pieces(array, chunk=10_000))
    whole_csv = b"".join(wide_pieces(array, chunk=10_000))
    for chunk in (1, 4, 7, 10):  # blocks of whole rows, rows split inside, single values
        assert b"".join(json_pieces(array, chunk=chunk)) == whole_json
        assert b"".join(wide_pieces(array, chunk=chunk)) == whole_csv
    assert json.loads(whole_json, parse_constant=str)  # valid JSON with quoted tokens


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, ml_dtypes.bfloat16])
def test_text_round_trip_across_real_block_boundaries(tmp_path, fmt, dtype):
    size = CHUNK_VALUES * 2 + 1234  # more than two blocks, specials anywhere
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test"))
    flat = specials(size, dtype)
    ws.add(exporter.Tensor.from_array("flat", flat))
    ws.add(
        exporter.Tensor.from_array("wide", specials(3 * (CHUNK_VALUES + 5), dtype).reshape(3, -1))
    )
    out = tmp_path / FORMATS[fmt]
    exporter.export(ws, out, format=fmt)
    back = exporter.load(out)
    for tensor in ws:
        got = back[tensor.name].read()
        assert got.dtype == tensor.dtype and got.shape == tensor.shape
        assert got.tobytes() == tensor.read().tobytes(), tensor.name


def test_fast_and_slow_paths_agree_on_digits():
    # float32 blocks without NaN go through orjson in one call; with a NaN they are split per
    # value. Both must give the same text for the finite values, the shortest for float32.
    array = np.random.default_rng(3).normal(0, 1e-3, 200).astype(np.float32)
    clean = tensor_json(array)
    dirty = np.concatenate([array, np.array([np.nan], np.float32)])
    assert tensor_json(dirty) == clean[:-1] + ',"NaN"]'
    assert tensor_json(np.array([0.1, 1e-7, 16777216.0], np.float32)) == "[0.1,1e-7,16777216.0]"
    assert wide_text(np.array([[1.5, -0.0], [np.inf, np.nan]], np.float32)) == "1.5,-0.0\ninf,nan\n"


def safetensors_weightset() -> exporter.WeightSet:
    rng = np.random.default_rng(5)
    arrays = {
        "dense/kernel": rng.normal(size=(3, 4)).astype(np.float32),
        "scalar": np.float64(2.5),
        "empty": np.zeros((2, 0), np.float32),
        "mask": np.array([True, False, True]),
        "brain": rng.normal(size=(2, 3)).astype(ml_dtypes.bfloat16),
        "half": rng.normal(size=5).astype(np.float16),
        "ints": np.array([np.iinfo(np.int64).min, 7]),
        "bytes": np.arange(7, dtype=np.uint8),
        "z/last": np.array(-1, np.int8),
    }
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", model_name="st"))
    for name, array in arrays.items():
        ws.add(exporter.Tensor.from_array(name, array))
    return ws


def test_safetensors_loads_with_the_library_and_is_reproducible(tmp_path):
    ws = safetensors_weightset()
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    manifest = exporter.export(ws, first)
    exporter.export(ws, second)
    assert first.read_bytes() == second.read_bytes()
    loaded = load_file(str(first))
    assert set(loaded) == set(ws.names())
    for tensor in ws:
        expected = tensor.read()
        got = loaded[tensor.name]
        assert got.dtype == expected.dtype, tensor.name
        assert got.shape == expected.shape and got.tobytes() == expected.tobytes(), tensor.name
    with safe_open(str(first), framework="numpy") as handle:
        assert json.loads(handle.metadata()[METADATA_KEY]) == manifest
        assert handle.get_tensor("brain").dtype == np.dtype(ml_dtypes.bfloat16)
    raw = first.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    assert size % 8 == 0 and next(iter(header)) == "__metadata__"
    assert list(header)[1:] == ws.names()  # our order, data back to back in that order
    assert len(raw) == 8 + size + sum(t.nbytes for t in ws)


def test_safetensors_hashes_in_the_header_match_the_data(tmp_path):
    ws = lazy_weightset(3, 1000)
    manifest = exporter.export(ws, tmp_path / "m.safetensors")
    back = exporter.load(tmp_path / "m.safetensors")
    assert [e["sha256"] for e in manifest["tensors"]] == [t.sha256 for t in back]
    assert exporter.validate(tmp_path / "m.safetensors").ok


def test_safetensors_starts_writing_before_the_source_digest_is_ready(tmp_path):
    """The header is sized with a stand-in digest; the real one goes in once it is known."""
    import hashlib
    import threading

    from exporter.files.hashing import FileDigest

    source = tmp_path / "source.bin"
    source.write_bytes(b"model bytes")
    ready, order = threading.Event(), []

    class SlowDigest(FileDigest):
        def __call__(self) -> str:
            ready.wait(timeout=10)
            order.append("digest")
            return super().__call__()

    ws = lazy_weightset(3, 1000)
    ws.info.sha256 = SlowDigest(source)
    for tensor in ws:

        def first_read(load=tensor.source):
            order.append("tensor")
            ready.set()  # the digest is only released once writing has started
            return load()

        tensor.source = first_read
    manifest = exporter.export(ws, tmp_path / "m.safetensors")
    assert order[0] == "tensor" and "digest" in order
    assert manifest["source"]["sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as handle:
        assert json.loads(handle.metadata()[METADATA_KEY]) == manifest


def test_safetensors_float8_has_its_code_and_bytes(tmp_path):
    # safetensors.numpy 0.8 cannot load F8 tensors (it looks for numpy.float8_e4m3fn), so the
    # header and the bytes are checked directly.
    array = np.random.default_rng(2).normal(size=(2, 3)).astype(ml_dtypes.float8_e4m3fn)
    other = np.arange(4, dtype=np.float32).astype(ml_dtypes.float8_e5m2)
    ws = exporter.WeightSet(
        [exporter.Tensor.from_array("a", array), exporter.Tensor.from_array("b", other)]
    )
    exporter.export(ws, tmp_path / "f8.safetensors")
    raw = (tmp_path / "f8.safetensors").read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    assert header["a"] == {"dtype": "F8_E4M3", "shape": [2, 3], "data_offsets": [0, 6]}
    assert header["b"] == {"dtype": "F8_E5M2", "shape": [4], "data_offsets": [6, 10]}
    assert raw[8 + size :] == array.tobytes() + other.tobytes()


@pytest.mark.parametrize("small", [0, 1 << 30], ids=["mapped", "read"])
def test_file_array_reads_any_offset_exactly_and_refuses_short_files(tmp_path, monkeypatch, small):
    from exporter.core.errors import InputError
    from exporter.files import maps as mapping

    monkeypatch.setattr(mapping, "SMALL_TENSOR_BYTES", small)
    values = np.random.default_rng(0).random((300, 7)).astype(np.float32)
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 4099 + values.tobytes())  # an offset no page boundary matches
    back = mapping.path_array(path, 4099, np.float32, (300, 7), "data.bin")
    assert back.tobytes() == values.tobytes() and not back.flags.writeable
    fortran = mapping.path_array(path, 4099, np.float32, (7, 300), "data.bin", order="F")
    assert np.array_equal(fortran, values.reshape(-1).reshape((7, 300), order="F"))
    assert mapping.path_array(path, 0, np.float32, (0, 3), "data.bin").shape == (0, 3)
    with pytest.raises(InputError, match=r"data.bin: .*(ends before|cannot be mapped)"):
        mapping.path_array(path, 4099 + 8, np.float32, (300, 7), "data.bin")
