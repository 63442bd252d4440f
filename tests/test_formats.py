"""Every writer round-trips exactly, is byte-reproducible, writes schema-valid manifests, and
`validate` catches data that disagrees with its manifest."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import exporter
from exporter.core.weightset import Tensor, WeightSet
from exporter.formats import schemas
from exporter.writers import writers

FORMATS = {"npz": "w.npz", "json": "w.json", "csv": "w-csv", "safetensors": "w.safetensors",
           "c": "w.h"}  # fmt: skip


def test_every_registered_writer_has_a_fixture():
    assert set(writers().names()) == set(FORMATS)


def tricky_weightset() -> exporter.WeightSet:
    rng = np.random.default_rng(1)
    arrays = {
        "dense/kernel": rng.normal(size=(3, 4)).astype(np.float32),
        "dense/bias": np.array([0.0, -0.0, np.inf, -np.inf], np.float32),
        "nan": np.array([np.nan, 1.0], np.float64),
        "half": rng.normal(size=5).astype(np.float16),
        "brain": rng.normal(size=(2, 2)).astype(ml_dtypes.bfloat16),
        "eight": np.array([0.5, -448.0, 0.0], ml_dtypes.float8_e4m3fn),
        "tiny": np.array([np.finfo(np.float32).smallest_subnormal, 1e-40], np.float32),
        "ints/i64": np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
        "ints/u8": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "mask": np.array([[True, False], [False, True]]),
        "scalar": np.float64(2.5),
        "empty": np.zeros((2, 0), np.float32),
        "no rows": np.zeros((0, 3), np.float64),
        "cube": rng.normal(size=(2, 3, 2)),
        "odd name, with comma": np.array([1, 2], np.int32),
    }
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", model_name="tricky"))
    for name, array in arrays.items():
        ws.add(exporter.Tensor.from_array(name, array, trainable=name.startswith("dense")))
    return ws


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, fmt):
    ws = tricky_weightset()
    out = tmp_path / FORMATS[fmt]
    manifest = exporter.export(ws, out, format=fmt)
    assert not schemas.schema_errors(manifest, schemas.MANIFEST)
    back = exporter.load(out)
    assert back.names() == ws.names()
    for tensor in ws:
        restored = back[tensor.name]
        assert restored.trainable == tensor.trainable
        assert same_bits(restored.read(), tensor.read()), tensor.name
    assert exporter.validate(out).ok
    assert back.info.extra["exported_from"]["model_name"] == "tricky"


def test_csv_long_layout_round_trips(tmp_path):
    ws = tricky_weightset()
    exporter.export(ws, tmp_path / "long", format="csv", csv_layout="long")
    assert sorted(p.name for p in (tmp_path / "long").iterdir()) == ["manifest.json", "weights.csv"]
    back = exporter.load(tmp_path / "long")
    for tensor in ws:
        assert same_bits(back[tensor.name].read(), tensor.read())


def tree_bytes(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {
            str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
        }
    return {"": path.read_bytes()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_weights_give_identical_bytes(tmp_path, fmt, monkeypatch):
    first, second = tmp_path / "a" / FORMATS[fmt], tmp_path / "b" / FORMATS[fmt]
    first.parent.mkdir(), second.parent.mkdir()
    exporter.export(tricky_weightset(), first, format=fmt)
    exporter.export(tricky_weightset(), second, format=fmt)
    assert tree_bytes(first) == tree_bytes(second)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    third = tmp_path / "c" / FORMATS[fmt]
    third.parent.mkdir()
    manifest = exporter.export(tricky_weightset(), third, format=fmt)
    assert manifest["created_at"] == "2023-11-14T22:13:20Z"


def test_npz_loads_with_plain_numpy(tmp_path):
    ws = tricky_weightset()
    exporter.export(ws, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz") as npz:
        assert same_bits(npz["dense/kernel"], ws["dense/kernel"].read())
        assert npz["brain"].dtype == np.uint16  # bfloat16 bits; the manifest has the real dtype
        manifest = json.loads(npz["manifest.json"])
    assert manifest["tensors"][4]["dtype"] == "bfloat16"


def test_json_export_matches_its_schema(tmp_path):
    exporter.export(tricky_weightset(), tmp_path / "w.json")
    document = json.loads((tmp_path / "w.json").read_text())
    assert not schemas.schema_errors(document, schemas.JSON_EXPORT)
    assert document["data"]["dense/bias"] == [0.0, -0.0, "Infinity", "-Infinity"]
    assert document["data"]["scalar"] == 2.5


def test_safetensors_loads_with_the_safetensors_library(tmp_path):
    from safetensors.numpy import load_file

    # safetensors.numpy 0.8 cannot build float8 arrays itself (exporter's reader can)
    ws = exporter.WeightSet([t for t in tricky_weightset() if t.name != "eight"])
    exporter.export(ws, tmp_path / "w.safetensors")
    loaded = load_file(tmp_path / "w.safetensors")
    assert same_bits(loaded["dense/kernel"], ws["dense/kernel"].read())
    assert loaded["brain"].dtype == ml_dtypes.bfloat16


# --------------------------------------------------------------- validate catches changes


def change_npz(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    data = bytearray(members["dense/kernel.npy"])
    data[-1] ^= 0x01
    members["dense/kernel.npy"] = bytes(data)
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def change_json(path: Path) -> None:
    document = json.loads(path.read_text())
    document["data"]["dense/kernel"][0][0] += 1.0
    path.write_text(json.dumps(document))


def change_csv(path: Path) -> None:
    target = path / "dense" / "kernel.csv"
    lines = target.read_text().splitlines()
    lines[0] = "0.5," + lines[0].split(",", 1)[1]
    target.write_text("\n".join(lines) + "\n")


def change_safetensors(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


CHANGES = {
    "npz": change_npz,
    "json": change_json,
    "csv": change_csv,
    "safetensors": change_safetensors,
    "c": lambda path: change_c(path),
}


def change_c(path: Path) -> None:
    """One hex digit of dense/kernel's first value."""
    line = "(w_dense_kernel, float, 12, 16) = {\n"
    path.write_text(path.read_text().replace(line + " 0x1.", line + " 0x0.", 1))


@pytest.mark.parametrize("fmt", FORMATS)
def test_validate_catches_a_changed_value(tmp_path, fmt, cli):
    out = tmp_path / FORMATS[fmt]
    exporter.export(tricky_weightset(), out, format=fmt)
    assert cli("validate", out).exit_code == 0
    CHANGES[fmt](out)
    report = exporter.validate(out)
    assert not report.ok
    assert len(report.problems) == 1
    if fmt != "safetensors":  # there the last byte belongs to whichever tensor is stored last
        assert report.problems[0]["tensor"] == "dense/kernel"
    result = cli("validate", out)
    assert result.exit_code == 1
    assert "✗" in result.stderr


def test_validate_names_a_missing_member_and_a_wrong_shape(tmp_path):
    out = tmp_path / "w-csv"
    exporter.export(tricky_weightset(), out, format="csv")
    (out / "half.csv").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["tensors"][0]["shape"] = [4, 3]
    (out / "manifest.json").write_text(json.dumps(manifest))
    problems = {p["tensor"]: p["problem"] for p in exporter.validate(out).problems}
    assert "half" in problems and "missing" in problems["half"]
    assert "dense/kernel" in problems


def test_newer_major_version_is_refused_clearly(tmp_path, cli):
    out = tmp_path / "w-csv"
    exporter.export(tricky_weightset(), out, format="csv")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = "2.0.0"
    (out / "manifest.json").write_text(json.dumps(manifest))
    result = cli("inspect", out)
    assert result.exit_code == 3
    assert "format version 2.0.0 is not supported" in result.stderr


def test_json_export_reformatted_by_a_user_still_reads(tmp_path):
    ws = tricky_weightset()
    exporter.export(ws, tmp_path / "w.json")
    document = json.loads((tmp_path / "w.json").read_text())
    swapped = {"manifest": document["manifest"], "data": document["data"]}
    (tmp_path / "pretty.json").write_text(json.dumps(swapped, indent=4))
    assert exporter.validate(tmp_path / "pretty.json").ok
    assert exporter.load(tmp_path / "pretty.json").names() == ws.names()


def test_validate_checks_the_manifest_totals(tmp_path):
    out = tmp_path / "w-csv"
    exporter.export(tricky_weightset(), out, format="csv")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["totals"]["bytes"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    problems = exporter.validate(out).problems
    assert problems == [{"tensor": "(manifest)", "problem": problems[0]["problem"]}]
    assert "totals.bytes says 1" in problems[0]["problem"]


def test_csv_file_names_stay_short_for_long_tensor_names(tmp_path):
    long = "layer_" + "x" * 400
    ws = exporter.WeightSet([exporter.Tensor.from_array(f"{long}/kernel", np.ones(2)),
                             exporter.Tensor.from_array(f"{long}y/kernel", np.zeros(2))])  # fmt: skip
    exporter.export(ws, tmp_path / "csv", format="csv")
    assert all(len(p.name) <= 200 for p in (tmp_path / "csv").rglob("*"))
    back = exporter.load(tmp_path / "csv")
    assert back.names() == ws.names() and back[f"{long}y/kernel"].read().tolist() == [0.0, 0.0]


def test_npz_edited_and_resaved_with_numpy_still_reads(tmp_path, cli):
    exporter.export(tricky_weightset(), tmp_path / "w.npz")
    arrays = dict(np.load(tmp_path / "w.npz"))  # manifest.json comes back as a bytes array
    arrays["dense/kernel"] = arrays["dense/kernel"] + np.float32(1)
    np.savez(tmp_path / "edited.npz", **arrays)
    back = exporter.load(tmp_path / "edited.npz")
    assert back.names() == tricky_weightset().names()
    assert back["brain"].dtype == ml_dtypes.bfloat16  # the manifest's dtype, not the storage uint16
    report = exporter.validate(tmp_path / "edited.npz")
    assert [p["tensor"] for p in report.problems] == ["dense/kernel"]
    assert cli("export", tmp_path / "edited.npz", "-o", tmp_path / "again.npz").exit_code == 0
    assert exporter.validate(tmp_path / "again.npz").ok


@pytest.mark.parametrize("fmt", ["npz", "json", "csv", "safetensors"])
def test_an_export_of_no_tensors_reads_back_and_validates(fmt, tmp_path):
    """Stateless estimators export 0 tensors: the file must still be a readable export."""
    out = tmp_path / f"empty.{fmt}"
    exporter.export(WeightSet(), out, format=fmt)
    assert len(exporter.load(out)) == 0
    assert exporter.validate(out).ok


def test_a_csv_folder_whose_file_names_end_in_npy_is_csv(tmp_path):
    """Detection by content: a folder is never an NPZ, whatever its file names end in."""
    ws = WeightSet()
    ws.add(Tensor.from_array("a.npy/x", np.arange(3, dtype=np.float32)))
    out = tmp_path / "w.csv"
    exporter.export(ws, out, format="csv")
    back = exporter.load(out)
    assert back.info.kind == "csv" and back.names() == ["a.npy/x"]


# ---------------------------------------------------------------- one module per format


def test_each_format_module_registers_its_reader_and_writer_in_detection_order():
    from exporter.formats import MODULES
    from exporter.readers import readers

    kinds = ["npz", "json", "csv", "safetensors", "c"]
    assert readers().names()[:5] == kinds  # the first detect() that says yes reads the file
    assert writers().names() == kinds
    for kind, module in zip(kinds, MODULES, strict=True):
        assert readers().get(kind).read.__module__ == module
        assert writers().get(kind).write.__module__ == module


def test_extensions_come_from_the_writers():
    from exporter.writers import extension_of, format_for, known_suffixes

    assert known_suffixes() == (".npz", ".json", ".csv", ".safetensors", ".h")
    for fmt in FORMATS:
        assert format_for(f"out{extension_of(fmt)}", None).format == fmt


@pytest.mark.parametrize("shape", [(), (0,), (4,), (0, 3), (3, 0), (2, 3, 4), (2, 0, 5), (1, 1, 1)])
def test_the_wide_csv_writer_and_reader_share_one_shape_rule(tmp_path, shape):
    from exporter.formats.csv_text import wide_matrix, wide_shape

    array = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    assert wide_matrix(array).shape == wide_shape(shape)
    ws = WeightSet()
    ws.add(Tensor.from_array("t", array))
    exporter.export(ws, tmp_path / "w.csv", format="csv")
    rows = (tmp_path / "w.csv" / "t.csv").read_text().splitlines()
    assert len(rows) == wide_shape(shape)[0]
    assert same_bits(exporter.load(tmp_path / "w.csv")["t"].read(), array)


# ---------------------------------------------------------------- the one dtype table

from exporter.core import dtypes  # noqa: E402

ROWS = [pytest.param(row, id=row.name) for row in dtypes.TABLE]


@pytest.mark.parametrize("row", ROWS)
def test_dtype_table_onnx_columns_agree_with_onnx(row):
    from onnx import helper

    assert np.dtype(helper.tensor_dtype_to_np_dtype(row.onnx)) == row.numpy
    assert helper.tensor_dtype_to_field(row.onnx) == row.onnx_field
    assert dtypes.by_onnx_type(row.onnx) is row


@pytest.mark.parametrize("row", ROWS)
def test_dtype_table_safetensors_code_is_what_the_library_writes(row):
    from safetensors.numpy import save

    data = save({"x": np.zeros(2, row.numpy)})
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    assert header["x"]["dtype"] == row.safetensors
    assert dtypes.by_safetensors_code(row.safetensors) is row


@pytest.mark.parametrize("row", ROWS)
def test_dtype_table_npy_storage_is_what_the_npz_writer_stores(tmp_path, row):
    from exporter.formats.npz import storage_array

    array = np.ones(3, row.numpy)
    stored = storage_array(array)
    assert stored.dtype == row.npy_dtype and stored.dtype.itemsize == row.itemsize
    assert (stored.dtype == array.dtype) == (not row.extra)
    np.save(tmp_path / "x.npy", stored, allow_pickle=False)  # a dtype .npy has a code for
    assert np.load(tmp_path / "x.npy").dtype == row.npy_dtype


@pytest.mark.parametrize("row", ROWS)
def test_dtype_table_hdf5_rule_is_how_h5py_stores_it(tmp_path, row):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as handle:
        try:
            stored = handle.create_dataset("x", data=np.ones(2, row.numpy)).dtype
        except TypeError:  # h5py has no type for float8_e5m2: only an attribute can name it
            assert row.hdf5 == dtypes.HDF5_OPAQUE
            return
    if row.hdf5 == dtypes.HDF5_NATIVE:
        assert stored == row.numpy
        return
    assert stored.kind == "V" and stored.itemsize == row.itemsize  # opaque bytes
    assert dtypes.by_hdf5_opaque(stored.itemsize, row.name) is row
    bare = dtypes.by_hdf5_opaque(stored.itemsize)  # without the `dtype` attribute
    assert (bare is row) == (row.hdf5 == dtypes.HDF5_OPAQUE_DEFAULT)


def test_dtype_lookups_name_what_is_supported():
    assert [dtypes.by_name(n).name for n in dtypes.SUPPORTED] == list(dtypes.SUPPORTED)
    assert dtypes.by_dtype(np.dtype(">f4")).name == "float32"
    for bad in ("float128", "complex64", None):
        with pytest.raises(exporter.InputError, match="exporter handles bool, int8"):
            dtypes.by_name(bad)
    with pytest.raises(exporter.InputError, match="unsupported dtype complex64"):
        dtypes.by_dtype(np.complex64)
    assert dtypes.by_safetensors_code("C64") is None and dtypes.by_onnx_type(8) is None
    assert dtypes.by_hdf5_opaque(4) is None and dtypes.by_hdf5_opaque(1) is None


def test_registry_order_is_declared_not_import_order():
    """Importing the format modules backwards first changes neither the writers' order nor the
    readers' detection order (the first reader whose detect() says yes wins)."""
    import subprocess
    import sys

    code = (
        "import importlib\n"
        "from exporter import formats\n"
        "for name in reversed(formats.MODULES): importlib.import_module(name)\n"
        "from exporter.writers import writers\n"
        "from exporter.readers import readers\n"
        "print(','.join(writers().names())); print(','.join(readers().names()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    writer_names, reader_names = done.stdout.split()
    assert writer_names == "npz,json,csv,safetensors,c"
    assert reader_names.split(",")[:5] == ["npz", "json", "csv", "safetensors", "c"]
