"""Property and fuzz tests (hypothesis).

- Any WeightSet (random names, every dtype, shapes with zero sizes and scalars, values including
  NaN payloads, ±Inf, -0.0 and subnormals) round-trips bit for bit through every format.
- Mutated seed files of every kind (bit flips, truncations, byte insertions) given to
  `exporter.load` and read tensor by tensor give a clean result or an ExporterError: never another
  exception, never a hang (a per-example alarm), never a crash.

Example counts keep this file under a minute; `HYPOTHESIS_PROFILE=long` runs far more.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import hostile_corpus as hc
import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import exporter
from exporter.core.errors import ExporterError
from exporter.core.weightset import Tensor, WeightSet
from exporter.formats.names import NameClash

PROFILES = {
    "default": {"roundtrip": 40, "fuzz": 30},
    "long": {"roundtrip": 1000, "fuzz": 1500},
}
COUNTS = PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "default"), PROFILES["default"])
DEADLINE_S = 10  # per example: a hang becomes a failure, not a stuck test run


def fuzz_settings(count: int):
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        derandomize=True,  # the same examples every run
    )


class Hang(BaseException):
    """Raised by the alarm; a BaseException so no reader's error handling can swallow it."""


@contextmanager
def alarm(seconds: int):
    def timeout(signum, frame):
        raise Hang(f"example took more than {seconds} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- round trips

DTYPES = [np.dtype(d) for d in ("float16", "float32", "float64", "int8", "int16", "int32",
          "int64", "uint8", "uint16", "uint32", "uint64", "bool")] + [
    np.dtype(ml_dtypes.bfloat16)]  # fmt: skip

# Plain segments, plus pieces that name format keys or meet on other file systems (issue #12,
# class 7): member suffixes, the manifest, safetensors' metadata key, Windows device names, NFC/NFD
# spellings, the escape characters themselves.
AWKWARD = [".npy", ".csv", "manifest.json", "__metadata__", "con", "é", "e\u0301", "%", "~2", "A"]
SEGMENT = st.one_of(
    st.text(alphabet=st.sampled_from("abcxyzABZ019_-. "), min_size=1, max_size=8),
    st.lists(st.sampled_from(["a", *AWKWARD]), min_size=1, max_size=3).map("".join),
).filter(lambda s: s not in (".", ".."))
NAMES = st.lists(SEGMENT, min_size=1, max_size=3).map("/".join)


@st.composite
def tensors(draw, name: str) -> Tensor:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    count = int(np.prod(shape, dtype=np.int64))
    if dtype == np.bool_:
        values = np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)), bool)
    else:
        raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
        special = _specials(dtype)
        values = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).copy()
        if special is not None and count:
            picks = draw(st.lists(st.integers(0, len(special) - 1), min_size=count, max_size=count))
            mask = np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)))
            values[mask] = special[np.array(picks)][mask]
    return Tensor.from_array(name, values.reshape(shape))


def _specials(dtype: np.dtype) -> np.ndarray | None:
    """NaN (with payloads and sign), ±Inf, -0.0 and subnormals of a float dtype, as bit patterns."""
    if dtype.kind != "f" and dtype != ml_dtypes.bfloat16:
        return None
    bits = {2: np.uint16, 4: np.uint32, 8: np.uint64}[dtype.itemsize]
    if dtype.itemsize == 2 and dtype != ml_dtypes.bfloat16:
        patterns = [0x7E00, 0xFE01, 0x7C00, 0xFC00, 0x8000, 0x0001, 0x83FF, 0x7D55]
    elif dtype.itemsize == 2:
        patterns = [0x7FC0, 0xFFC1, 0x7F80, 0xFF80, 0x8000, 0x0001, 0x807F, 0x7FA5]
    elif dtype.itemsize == 4:
        patterns = [0x7FC00000, 0xFFC00001, 0x7F800000, 0xFF800000, 0x80000000, 0x00000001,
                    0x807FFFFF, 0x7FA5A5A5]  # fmt: skip
    else:
        patterns = [0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000000,
                    0xFFF0000000000000, 0x8000000000000000, 0x1, 0x800FFFFFFFFFFFFF,
                    0x7FF5A5A5A5A5A5A5]  # fmt: skip
    return np.array(patterns, dtype=bits).view(dtype)


@st.composite
def weightsets(draw) -> WeightSet:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    ws = WeightSet()
    for name in names:
        ws.add(draw(tensors(name)))
    return ws


def _check_with_the_format_library(out: Path, fmt: str, ws: WeightSet) -> None:
    """numpy.load / safetensors find every tensor under its own name, with its own bytes."""
    if fmt == "npz":
        with np.load(out) as data:
            for tensor in ws:
                if tensor.dtype.kind in "fiub" and tensor.dtype != ml_dtypes.bfloat16:
                    assert data[tensor.name].tobytes() == tensor.read().tobytes(), tensor.name
    elif fmt == "safetensors":
        from safetensors.numpy import load_file

        if all(tensor.dtype != ml_dtypes.bfloat16 for tensor in ws):
            data = load_file(out)
            for tensor in ws:
                assert data[tensor.name].tobytes() == tensor.read().tobytes(), tensor.name


FORMATS = [
    pytest.param("npz", "npz", "wide", id="npz"),
    pytest.param("json", "json", "wide", id="json"),
    pytest.param("csv", "csv", "wide", id="csv"),
    pytest.param("csv-long", "csv", "long", id="csv-long"),
    pytest.param("safetensors", "safetensors", "wide", id="safetensors"),
]


@pytest.mark.parametrize(("label", "fmt", "layout"), FORMATS)
def test_any_weightset_round_trips_exactly(label, fmt, layout):
    @fuzz_settings(COUNTS["roundtrip"])
    @given(ws=weightsets())
    def check(ws: WeightSet) -> None:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"w.{fmt}"
            try:
                exporter.export(ws, out, format=fmt, csv_layout=layout)
            except NameClash:  # names the format cannot keep apart: refused, nothing written
                assert fmt in ("npz", "safetensors") and list(Path(folder).iterdir()) == []
                return
            back = exporter.load(out)
            assert back.names() == ws.names()
            for want, got in zip(ws, back, strict=True):
                array = got.read()
                assert array.dtype == want.dtype, want.name
                assert array.shape == want.shape, want.name
                assert array.tobytes() == want.read().tobytes(), f"{want.name}: bytes differ"
            assert exporter.validate(out).ok
            _check_with_the_format_library(out, fmt, ws)

    check()


# ---------------------------------------------------------------- fuzzing the readers


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seeds")
    return {kind: hc.make_seed(folder / kind.replace(".", "_"), kind) for kind in hc.SEED_KINDS}


@st.composite
def mutations(draw, size: int):
    """A list of (operation, position, value) applied in order to a file of size bytes."""
    ops = st.tuples(
        st.sampled_from(["flip", "truncate", "insert", "set"]),
        st.integers(0, max(size - 1, 0)),
        st.integers(0, 255),
    )
    return draw(st.lists(ops, min_size=1, max_size=4))


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, pos, value in ops:
        if not buf:
            break
        pos %= len(buf)
        if op == "flip":
            buf[pos] ^= 1 << (value % 8)
        elif op == "set":
            buf[pos] = value
        elif op == "insert":
            buf[pos:pos] = bytes([value]) * (1 + value % 16)
        else:
            del buf[pos:]
    return bytes(buf)


def read_everything(path: Path) -> None:
    """Load, then read every tensor: a clean result or an ExporterError, nothing else."""
    try:
        ws = exporter.load(path)
        for tensor in ws:
            tensor.read()
    except ExporterError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)


def _target(seed: Path, choice: int) -> tuple[Path, str]:
    """The file of a seed to mutate: the seed itself, or one file of a CSV folder."""
    if seed.is_file():
        return seed, seed.name
    files = sorted(p for p in seed.rglob("*") if p.is_file())
    picked = files[choice % len(files)]
    return picked, str(picked.relative_to(seed))


@pytest.mark.parametrize("kind", hc.SEED_KINDS)
def test_every_seed_reads_before_it_is_mutated(kind, seeds):
    """The positive control: an unmutated seed gives tensors, so the fuzz starts from sound files."""
    ws = exporter.load(seeds[kind])
    assert len(ws) > 0 and all(tensor.read() is not None for tensor in ws)


@pytest.mark.parametrize("kind", hc.SEED_KINDS)
def test_mutated_files_give_a_result_or_an_exporter_error(kind, seeds):
    seed = seeds[kind]
    tree = seed.parent if kind in hc.FOLDER_SEEDS else seed
    sizes = [p.stat().st_size for p in ([tree] if tree.is_file() else tree.rglob("*.*"))]

    @fuzz_settings(COUNTS["fuzz"])
    @given(choice=st.integers(0, 64), ops=mutations(max(sizes)))
    def check(choice: int, ops) -> None:
        with tempfile.TemporaryDirectory() as folder:
            if kind in hc.FOLDER_SEEDS:
                shutil.copytree(seed.parent, Path(folder) / "model")
                copy = Path(folder) / "model" / seed.name
                target, _ = _target(copy.parent, choice)
            else:
                copy = Path(folder) / seed.name
                if seed.is_dir():
                    shutil.copytree(seed, copy)
                else:
                    shutil.copy(seed, copy)
                target, _ = _target(copy, choice)
            target.write_bytes(mutate(target.read_bytes(), ops))
            with alarm(DEADLINE_S):
                read_everything(copy)

    check()


# ---------------------------------------------------------------- what the long profile found


def test_onnx_name_that_is_not_utf8_is_input_error(tmp_path):
    """protobuf returns bytes for a string field that is not valid UTF-8 (found by fuzzing)."""
    import onnx_models as om
    from onnx import numpy_helper

    tensor = numpy_helper.from_array(np.ones(3, np.float32), "WXYZ")
    data = om.model(om.identity_graph([tensor])).SerializeToString()
    path = tmp_path / "bad.onnx"
    path.write_bytes(data.replace(b"WXYZ", b"W\xffYZ"))
    read_everything(path)  # a clean error, nothing else
    with pytest.raises(ExporterError, match="not valid UTF-8"):
        exporter.load(path)


def test_hdf5_named_datatype_is_input_error(tmp_path):
    import h5py

    path = hc.legacy_h5(tmp_path / "named_type.h5")
    with h5py.File(path, "r+") as handle:
        handle["model_weights/dense/a_type"] = np.dtype("<f4")
    read_everything(path)  # a clean error, nothing else
    with pytest.raises(ExporterError, match="not a group or dataset"):
        exporter.load(path)
