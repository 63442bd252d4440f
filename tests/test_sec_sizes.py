"""Issue #12, class 6: declared sizes that reach an allocation (archives and model files).

Metadata documents are bounded by an absolute size from the zip headers before anything is
inflated or parsed, and read at most limit + 1 bytes; shapes are counted in Python integers.
The hostile files themselves are tests/hostile_sizes.py (run by test_hostile.py); here they are
run under a 2 GiB address space, next to positive controls and the unit checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import hostile_corpus as hc
import hostile_sizes as hs
import numpy as np
import pytest

import exporter
from exporter.core.errors import InputError, UnsafeInputError, UsageError
from exporter.files import archive

ROOT = Path(__file__).resolve().parents[1]

LIMITED = textwrap.dedent(
    """
    import resource, sys
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.argv = ["exporter", *sys.argv[1:]]
    from exporter.cli.app import main
    main()
    """
)


def run_limited(*args: str | Path, env: dict[str, str] | None = None):
    """The CLI in a second process under a 2 GiB address space (bounded in time)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", LIMITED, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=180,
    )


def one_error_line(done: subprocess.CompletedProcess, path: Path) -> str:
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("exporter: error: ") and path.name in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- bombs under 2 GiB

BOMBS = ["keras", "npz", "npz-resaved", "skops"]


@pytest.mark.parametrize("kind", BOMBS)
def test_metadata_bombs_are_refused_under_a_2gib_address_space(kind, tmp_path):
    path = hs.bomb(kind)(tmp_path)
    with zipfile.ZipFile(path) as handle:  # the bomb is real: big, and within the ratio
        info = max(handle.infolist(), key=lambda i: i.file_size)
    assert info.file_size > 200 << 20 and info.file_size < archive.MAX_RATIO * info.compress_size
    done = run_limited("inspect", path)
    assert done.returncode == 3, done.stderr[-2000:]
    assert hs.METADATA_MESSAGE in one_error_line(done, path)


WRAPS = ["onnx-dims-wrap-to-zero", "onnx-dims-wrap-to-four", "onnx-external-dims-wrap",
         "h5-dims-wrap-to-zero", "weights-h5-dims-wrap", "keras-dims-wrap"]  # fmt: skip


@pytest.mark.parametrize("name", WRAPS)
@pytest.mark.parametrize("command", ["inspect", "export"])
def test_wrapping_shapes_are_refused_under_a_2gib_address_space(name, command, tmp_path):
    (case,) = [c for c in hs.CASES if c.name == name]
    (tmp_path / "in").mkdir()
    path = case.build(tmp_path / "in")
    out = tmp_path / "out.npz"
    done = run_limited(command, path, *(["-o", out] if command == "export" else []))
    assert done.returncode == 3, done.stderr[-2000:]
    assert hs.SHAPE_MESSAGE in one_error_line(done, path)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["keras", "npz", "npz-resaved", "skops", "onnx", "h5"])
def test_sound_files_are_read_under_the_same_limit(kind, tmp_path):
    """Positive control: the limited process reads the sound file each bomb was made from."""
    path = hc.make_seed(tmp_path, kind)
    done = run_limited("inspect", path)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "member"), [("npz", "manifest.json"), ("keras", "config.json"),
                                              ("skops", "schema.json")])  # fmt: skip
def test_a_document_just_under_the_limit_fits_in_2gib(kind, member, tmp_path):
    """The limit is low enough that the worst JSON under it (`{},`, ~24x when parsed) is read
    and audited in a 2 GiB address space: an answer, not a MemoryError (keras: ~45 s)."""
    seed = hc.make_seed(tmp_path, kind)
    bomb = hs.json_bomb(archive.MAX_METADATA_BYTES - (1 << 20))
    path = hs._replace_member(seed, tmp_path / f"near.{kind}", member, bomb)
    done = run_limited("inspect", path)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert "MemoryError" not in done.stderr and "internal error" not in done.stderr
    assert "ran out of memory" not in done.stderr  # the CLI's last line of defence is no answer


# ---------------------------------------------------------------- the header bound


LYING_BYTES = 100 << 20


def lying(tmp_path: Path, member: str, declared: int) -> Path:
    """A zip whose member declares `declared` bytes and inflates to 100 MB of `{},`."""
    real = b"".join(hs.json_bomb(LYING_BYTES))
    return hc.lying_zip(tmp_path / "lying.zip", member, real, declared)


def test_a_lying_header_yields_no_more_than_it_declares(tmp_path):
    """The header bound is enough: reads stop at the declared size (then fail the CRC)."""
    path = lying(tmp_path, "schema.json", 300)
    with archive.open_zip(path) as handle:  # the header passes: 300 bytes declared
        with pytest.raises(InputError, match="damaged"):
            archive.read_member(handle, "schema.json", str(path))
        with pytest.raises(zipfile.BadZipFile, match="CRC"):  # what skops and numpy call
            handle.read("schema.json")
        got = 0
        with handle.open("schema.json") as member, pytest.raises(zipfile.BadZipFile):
            while chunk := member.read(1 << 16):
                got += len(chunk)
    assert got <= 300


def test_a_lying_skops_schema_is_refused_under_a_2gib_address_space(tmp_path):
    seed = hc.skops_file(tmp_path / "seed.skops")
    real = b"".join(hs.json_bomb(LYING_BYTES))
    with zipfile.ZipFile(seed) as src:
        prefix = {i.filename: src.read(i) for i in src.infolist() if i.filename != "schema.json"}
    path = hc.lying_zip(tmp_path / "lying.skops", "schema.json", real, 300, prefix)
    done = run_limited("inspect", path)
    assert done.returncode == 3, done.stderr[-2000:]
    one_error_line(done, path)


def test_metadata_members_are_bounded_by_name(tmp_path, monkeypatch):
    """Every JSON member (and manifest.json.npy) is held to the limit; data members are not."""
    monkeypatch.setenv(archive.METADATA_ENV, "1000")
    for name in ("config.json", "metadata.json", "sub/schema.json", "MANIFEST.JSON",
                 "manifest.json.npy"):  # fmt: skip
        path = hc.npz_raw(tmp_path / "m.zip", {name: b" " * 1001})
        with pytest.raises(UnsafeInputError, match=f"{name}.*1,001 bytes.*1,000-byte"):
            archive.open_zip(path)
    path = hc.npz_raw(tmp_path / "d.zip", {"w.npy": b" " * 5000, "config.json": b" " * 1000})
    archive.open_zip(path).close()


def test_the_limit_is_one_number_users_can_raise(tmp_path, monkeypatch):
    path = hc.make_seed(tmp_path, "keras")
    with zipfile.ZipFile(path) as handle:
        size = handle.getinfo("config.json").file_size
    monkeypatch.setenv(archive.METADATA_ENV, str(size - 1))
    with pytest.raises(UnsafeInputError, match=f"config.json.*{archive.METADATA_ENV}"):
        exporter.load(path)
    monkeypatch.setenv(archive.METADATA_ENV, str(size))
    assert exporter.load(path).names() == ["dense/kernel", "dense/bias"]
    monkeypatch.setenv(archive.METADATA_ENV, "lots")
    with pytest.raises(UsageError, match=archive.METADATA_ENV):
        archive.metadata_limit()
    monkeypatch.delenv(archive.METADATA_ENV)
    assert archive.metadata_limit() == archive.MAX_METADATA_BYTES == 32 << 20


def test_the_cli_names_the_variable_and_exits_2_on_a_bad_value(tmp_path, cli, monkeypatch):
    path = hc.make_seed(tmp_path, "npz")
    monkeypatch.setenv(archive.METADATA_ENV, "-5")
    result = cli("inspect", path)
    assert result.exit_code == 2 and archive.METADATA_ENV in result.stderr, result


def test_read_member_and_read_document_read_at_most_limit_plus_one(tmp_path, monkeypatch):
    monkeypatch.setenv(archive.METADATA_ENV, "4096")
    path = hc.npz_raw(tmp_path / "a.zip", {"ok.json": b"{}", "big.bin": b"x" * 10000})
    with zipfile.ZipFile(path) as handle:
        assert archive.read_member(handle, "ok.json", "a.zip") == b"{}"
        with pytest.raises(
            UnsafeInputError, match=r"big\.bin.* at least 4,097 bytes.*4,096-byte limit"
        ):
            archive.read_member(
                handle, "big.bin", "a.zip"
            )  # not checked by open_zip: still bounded
        with pytest.raises(InputError, match="no member"):
            archive.read_member(handle, "missing.json", "a.zip")
    with pytest.raises(UnsafeInputError, match="/dev/zero holds at least 4,097 bytes"):
        archive.read_document(Path("/dev/zero"))  # endless: one bounded read
    (tmp_path / "manifest.json").write_text("{}")
    assert archive.read_document(tmp_path / "manifest.json") == b"{}"


def test_an_npz_manifest_over_the_limit_is_refused_before_numpy_reads_it(tmp_path, monkeypatch):
    path = hc.make_seed(tmp_path, "npz-resaved")
    monkeypatch.setenv(archive.METADATA_ENV, "100")
    with pytest.raises(UnsafeInputError, match=r"manifest\.json\.npy"):
        exporter.load(path)
    monkeypatch.delenv(archive.METADATA_ENV)
    assert "dense/kernel" in exporter.load(path).names()


# ---------------------------------------------------------------- Keras texts in HDF5


def test_a_long_model_config_attribute_is_refused(tmp_path, monkeypatch, cli):
    path = hs.h5_config_attribute(tmp_path, 200_000)
    assert exporter.load(path).names() == ["dense/kernel", "dense/bias"]  # positive control
    monkeypatch.setenv(archive.METADATA_ENV, "100000")
    result = cli("inspect", path)
    assert result.exit_code == 3, result
    assert "'model_config'" in result.stderr and hs.METADATA_MESSAGE in result.stderr


def test_keras_never_sees_a_refused_file(tmp_path, monkeypatch):
    """--via keras: the header check refuses the config bomb before Keras is asked to load
    it (Keras would parse the whole config.json), and a long model_config likewise."""
    from exporter.core import frameworks

    calls = []

    class FakeKeras:
        class models:  # mimics keras.models
            @staticmethod
            def load_model(path, **kw):
                calls.append(Path(path).name)
                raise ValueError("fake keras")

    monkeypatch.setattr(frameworks, "keras", lambda: FakeKeras)
    seed = hc.make_seed(tmp_path, "keras")
    with pytest.raises(InputError, match="fake keras"):  # control: the fake is reached
        exporter.load(seed, via="keras")
    bomb = hs.bomb("keras")(tmp_path)
    with pytest.raises(UnsafeInputError, match=hs.METADATA_MESSAGE):
        exporter.load(bomb, via="keras")
    monkeypatch.setenv(archive.METADATA_ENV, "100000")
    config = hs.h5_config_attribute(tmp_path, 200_000)
    with pytest.raises(UnsafeInputError, match="model_config"):
        exporter.load(config, via="keras")
    assert calls == [seed.name]


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("shape", "itemsize", "expected"),
    [((), 4, 4), ((3, 2), 4, 24), ((0, 5), 8, 0), ((2**31, 2), 2, 2**33), ((7,), 0, 0)],
)
def test_declared_nbytes_is_exact(shape, itemsize, expected):
    assert archive.declared_nbytes(shape, itemsize, "t") == expected
    assert isinstance(archive.declared_nbytes(np.array(shape, np.int64), itemsize, "t"), int)


@pytest.mark.parametrize(
    "shape",
    [hs.WRAP_TO_ZERO, hs.WRAP_TO_FOUR, [0, 2**63], [2**40, 2**40], [2**62, 0, 3]],
)
def test_declared_nbytes_refuses_what_int64_wraps_or_numpy_cannot_hold(shape):
    with pytest.raises(InputError, match=r"tensor 'W'.*more elements than any array"):
        archive.declared_nbytes(shape, 4, "m.onnx: tensor 'W'")
    with pytest.raises((ValueError, MemoryError)):  # numpy agrees: no such array exists
        np.empty(shape, np.float32)


def test_negative_dims_are_refused_naming_the_tensor():
    with pytest.raises(InputError, match="tensor 'W': has a negative dimension"):
        archive.declared_nbytes([3, -1], 4, "m.onnx: tensor 'W'")


def test_int64_would_have_passed_the_size_checks():
    """Why Python integers: the old count made these shapes look small."""
    assert int(np.prod(hs.WRAP_TO_ZERO, dtype=np.int64)) == 0
    assert int(np.prod(hs.WRAP_TO_FOUR, dtype=np.int64)) * 4 == 16


def test_sound_onnx_tensors_keep_their_shapes(tmp_path):
    """Positive control next to the wrap cases: the same builders with sane dims read fine."""
    path = hs._onnx_initializer([2, 2], b"\x00" * 16)(tmp_path)
    ws = exporter.load(path)
    assert ws["W"].shape == (2, 2) and ws["W"].read().shape == (2, 2)


def test_a_fill_value_in_external_data_is_not_read_from_the_working_folder(tmp_path, monkeypatch):
    """onnx's to_array reads external data relative to the current folder, not the model's."""
    from onnx import TensorProto, helper

    secret = np.array([1234.5], np.float32)
    (tmp_path / "secret.bin").write_bytes(secret.tobytes())
    monkeypatch.chdir(tmp_path)
    value = TensorProto(name="v", data_type=TensorProto.FLOAT, dims=[1])
    value.data_location = TensorProto.EXTERNAL
    for key, text in (("location", "secret.bin"), ("offset", "0"), ("length", "4")):
        entry = value.external_data.add()
        entry.key, entry.value = key, text
    node = helper.make_node("ConstantOfShape", ["shape"], ["filled"], value=value)
    (tmp_path / "model").mkdir()
    import onnx_models as om

    graph = om.identity_graph([hs._float_tensor("b", [2], b"\x00" * 8)], nodes=[node])
    path = hs._save_onnx(tmp_path / "model" / "fill.onnx", graph)
    with pytest.raises(InputError, match="external data"):
        exporter.load(path)


def test_hdf5_positive_control_under_the_same_builder(tmp_path):
    path = hs._h5_wrap([3, 2])(tmp_path)
    ws = exporter.load(path)
    assert ws["dense/kernel"].shape == (3, 2)
    assert np.array_equal(ws["dense/kernel"].read(), np.zeros((3, 2), np.float32))
