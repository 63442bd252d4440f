"""Holes a red-team review found after issue #12's fixes, one test each (the reproductions of
/tmp/redteam1 made into tests): JSON documents nested past the parser's depth, oversized manifests
in an output folder, --inputs files read by path, and version folders that no name can hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hostile_corpus as hc
import numpy as np
import pytest

DEEP = "[" * 100_000 + "]" * 100_000


def _lines(result) -> list[str]:
    return result.stderr.strip().splitlines()


@pytest.fixture
def skops_model(tmp_path) -> Path:
    return hc.skops_file(tmp_path / "lr.skops")


def test_force_onto_a_folder_with_a_deeply_nested_manifest_keeps_it(tmp_path, skops_model, cli):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "manifest.json").write_text(DEEP)
    (victim / "mine.txt").write_text("keep")
    result = cli("export", skops_model, "-o", victim, "--format", "csv", "--force")
    assert result.exit_code == 2, result  # was exit 4 (RecursionError)
    assert len(_lines(result)) == 1 and "not an exporter CSV export" in result.stderr
    assert (victim / "mine.txt").read_text() == "keep"


def test_force_onto_a_folder_with_a_huge_manifest_reads_at_most_the_limit(
    tmp_path, skops_model, cli, monkeypatch
):
    monkeypatch.setenv("EXPORTER_MAX_METADATA_BYTES", "50000")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "manifest.json").write_text("[" + "{}," * 50_000 + "{}]")
    result = cli("export", skops_model, "-o", victim, "--format", "csv", "--force")
    assert result.exit_code == 2, result
    assert sorted(p.name for p in victim.iterdir()) == ["manifest.json"]


def test_a_spec_nested_too_deeply_is_exit_3(tmp_path, skops_model, cli):
    spec = tmp_path / "deep_spec.json"
    spec.write_text(DEEP)
    result = cli("check", skops_model, "--spec", spec)
    assert result.exit_code == 3, result  # was exit 4
    assert len(_lines(result)) == 1 and "nested too deeply" in result.stderr


def test_a_store_index_nested_too_deeply_is_exit_3(tmp_path, skops_model, cli):
    folder = tmp_path / "store" / "m"
    folder.mkdir(parents=True)
    (folder / "index.json").write_text('{"a":' + DEEP + "}")
    for args in (("versions", folder), ("export", skops_model, "--store", folder.parent,
                                         "--name", "m")):  # fmt: skip
        result = cli(*args)
        assert result.exit_code == 3, result  # was exit 4
        assert "nested too deeply" in result.stderr


def test_a_version_folder_no_name_can_follow_does_not_block_the_store(tmp_path, cli):
    store = tmp_path / "store"
    first = hc.export_seed(tmp_path, "npz")
    assert cli("export", first, "--store", store, "--name", "m").exit_code == 0
    (store / "m" / ("v" + "9" * 250)).mkdir()
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3.0))
    result = cli("export", other, "--store", store, "--name", "m")
    assert result.exit_code == 0, result  # was exit 2 for ever: "File name too long"
    assert (store / "m" / "v2").is_dir()


def test_inputs_declaring_more_than_they_hold_are_refused_unallocated(tmp_path):
    """--inputs goes through exporter's own NPZ reader: the .npy header is checked against the
    member's size before numpy allocates (an 800 GB declaration used to be attempted)."""
    from exporter.convert.base import InputSpec
    from exporter.convert.check import user_inputs
    from exporter.core.errors import InputError

    path = tmp_path / "bomb.npz"
    hc.npz_raw(path, {"X.npy": hc.npy_header_only((10**11, 2))})
    with pytest.raises(InputError, match="declares"):
        user_inputs(str(path), [InputSpec("X", np.dtype(np.float32), (None, 2))])


def test_inputs_are_read_from_one_descriptor_never_by_path_again(tmp_path, monkeypatch):
    """The check and the read are one open: numpy never opens the --inputs path itself, so a
    path swapped for a FIFO in between cannot hang the command."""
    from exporter.convert.base import InputSpec
    from exporter.convert.check import user_inputs

    path = tmp_path / "in.npz"
    np.savez(path, X=np.ones((3, 2)))

    def refuse(*args, **kwargs):
        raise AssertionError("numpy.load opened the --inputs path again")

    monkeypatch.setattr(np, "load", refuse)
    arrays = user_inputs(str(path), [InputSpec("X", np.dtype(np.float32), (None, 2))])
    assert arrays["X"].dtype == np.float32 and arrays["X"].shape == (3, 2)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_inputs_that_are_a_fifo_end_at_once(tmp_path):
    from exporter.convert.base import InputSpec

    fifo = tmp_path / "in.npz"
    os.mkfifo(fifo)
    script = (
        "import sys, numpy as np\n"
        "from exporter.convert.check import user_inputs\n"
        "from exporter.convert.base import InputSpec\n"
        "from exporter.core.errors import InputError\n"
        "try:\n"
        "    user_inputs(sys.argv[1], [InputSpec('X', np.dtype(np.float32), (None, 2))])\n"
        "except InputError as exc:\n"
        "    print('refused', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(fifo)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("refused"), done
    assert InputSpec  # imported for the script's sake


# ---------------------------------------------------------------- found in the final review


def test_a_damaged_compressed_npz_member_is_exit_3(tmp_path, cli):
    """zlib.error is not an OSError: it used to escape every handler (exit 4)."""
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, a=np.arange(100_000, dtype=np.float64))
    assert cli("inspect", path).exit_code == 0  # the positive control
    data = bytearray(path.read_bytes())
    data[200:250] = b"\x00" * 50  # inside the deflated member
    path.write_bytes(bytes(data))
    for command in ("inspect", "export"):
        args = [command, path] + (["-o", tmp_path / "out.npz"] if command == "export" else [])
        result = cli(*args)
        assert result.exit_code == 3, result
        assert len(_lines(result)) == 1 and path.name in result.stderr
    assert not (tmp_path / "out.npz").exists()


def test_a_damaged_hdf5_chunk_read_lazily_is_exit_3(tmp_path, cli):
    """Tensors are read after the reader returns; a filter failure then was exit 4."""
    import h5py

    path = tmp_path / "bad.weights.h5"
    with h5py.File(path, "w") as handle:
        handle.create_group("layers/dense/vars").attrs["name"] = "dense"
        handle.create_dataset(
            "layers/dense/vars/0", data=np.arange(40_000, dtype=np.float32).reshape(200, 200),
            compression="gzip", chunks=(50, 200),
        )  # fmt: skip
        handle.create_group("vars")
        offset = handle["layers/dense/vars/0"].id.get_chunk_info(1).byte_offset
    assert cli("inspect", path).exit_code == 0  # the positive control
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    result = cli("export", path, "-o", tmp_path / "out.npz")
    assert result.exit_code == 3, result
    assert len(_lines(result)) == 1 and path.name in result.stderr
    assert not (tmp_path / "out.npz").exists()


def test_verify_refuses_external_data_with_a_negative_dimension(tmp_path):
    """verify inlines external data itself; a negative dim gave a negative read size (exit 4)."""
    import onnx
    import onnx_models as om

    from exporter.core.errors import InputError
    from exporter.models.onnx.external import inline_external_data

    path, _ = om.external_model(tmp_path)
    model = onnx.load(path, load_external_data=False)
    assert inline_external_data(model, tmp_path, "m.onnx") == 2  # the positive control
    model = onnx.load(path, load_external_data=False)
    model.graph.initializer[0].dims[:] = [-4]
    with pytest.raises(InputError, match="negative"):
        inline_external_data(model, tmp_path, "m.onnx")
