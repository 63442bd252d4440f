"""Issue #12, class 7: tensor names that collide with format keys or with each other.

Every export either refuses the names before any output exists (NPZ keys and safetensors keys
are the formats' interface: exit 3, one line naming both tensors and the format) or is written
so that each tensor reads back bit-exactly, through exporter and through the format's own
library. CSV folders escape clashes (`~N`) so that their files stay apart on case-insensitive
(macOS, Windows) and Windows file systems, recorded in the manifest's `location`.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest

import exporter
from exporter import writers
from exporter.core.errors import UnsupportedError
from exporter.formats.names import NameClash

DEVICES = {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(1, 10)}


def weights(*names: str) -> exporter.WeightSet:
    """One small tensor per name, each with different values (a mix-up shows)."""
    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", file="names.src"))
    for index, name in enumerate(names):
        ws.add(exporter.Tensor.from_array(name, np.arange(3, dtype=np.float32) * 10 + index))
    return ws


def assert_reads_back(ws: exporter.WeightSet, out: Path) -> None:
    back = exporter.load(out)
    assert back.names() == ws.names()
    for want, got in zip(ws, back, strict=True):
        assert got.read().tobytes() == want.read().tobytes(), want.name
    assert exporter.validate(out).ok


# ---------------------------------------------------------------- refused: NPZ and safetensors

REFUSED = [
    pytest.param("npz", ("x", "x.npy"), "'x' and 'x.npy'", id="npz-member-alias"),
    pytest.param("npz", ("dense/b.npy", "w", "dense/b"), "'dense/b.npy' and 'dense/b'", id="npz-alias-reversed"),
    pytest.param("npz", ("manifest.json",), "'manifest.json'.*manifest", id="npz-manifest"),
    pytest.param("safetensors", ("a", "__metadata__"), "'__metadata__'.*metadata", id="safetensors-metadata"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "names", "message"), REFUSED)
def test_clashing_names_are_refused_before_any_output(fmt, names, message, tmp_path, monkeypatch):
    def no_output(*args, **kwargs):
        raise AssertionError("the output was opened before the names were checked")

    monkeypatch.setattr(writers, "atomic_file", no_output)
    monkeypatch.setattr(writers, "atomic_dir", no_output)
    out = tmp_path / f"out.{fmt}"
    with pytest.raises(NameClash, match=message) as caught:
        exporter.export(weights(*names), out, format=fmt)
    text = str(caught.value)
    assert isinstance(caught.value, UnsupportedError) and caught.value.exit_code == 3
    assert "\n" not in text and str(out) in text and "names.src" in text and fmt in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "bad", "good"),
    [("npz", "x.npy", "y.npy"), ("npz", "manifest.json", "manifest"),
     ("safetensors", "__metadata__", "metadata")],
)  # fmt: skip
def test_cli_refuses_with_one_line_and_the_same_names_otherwise_export(
    fmt, bad, good, tmp_path, cli
):
    for name, code in ((bad, 3), (good, 0)):  # the same command on sound names is the control
        source = tmp_path / f"{name.replace('.', '_')}.json"
        exporter.export(weights("x", name), source)
        out = tmp_path / f"{source.stem}.{fmt}"
        result = cli("export", source, "-o", out)
        assert result.exit_code == code, result
        assert "Traceback" not in result.stderr
        if code:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result
            assert source.name in lines[0] and repr(bad) in lines[0] and fmt in lines[0]
            assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [source.name]
        else:
            assert_reads_back(weights("x", name), out)
            source.unlink(), out.unlink()


def test_numpy_load_returns_the_wrong_tensor_for_an_alias(tmp_path):
    """Why `x` beside `x.npy` is refused: numpy itself gives `x` for key `x.npy`."""
    path = tmp_path / "plain.npz"
    np.savez(path, **{"x": np.zeros(2), "x.npy": np.ones(2)})
    with np.load(path) as data:
        assert data["x.npy"].tolist() == [0.0, 0.0]  # not [1, 1]: the member x.npy wins


def test_own_libraries_read_every_written_key(tmp_path):
    names = ("x", "y.npy", "manifest", "manifest.json.npy", "__metadata__x", "data", "a\u2028b")
    ws = weights(*names)
    exporter.export(ws, tmp_path / "w.npz")
    exporter.export(weights(*names[:4], "__meta", *names[5:]), tmp_path / "w.safetensors")
    with np.load(tmp_path / "w.npz") as data:
        for tensor in ws:
            assert data[tensor.name].tobytes() == tensor.read().tobytes(), tensor.name
    from safetensors.numpy import load_file

    loaded = load_file(str(tmp_path / "w.safetensors"))
    assert loaded["y.npy"].tobytes() == ws["y.npy"].read().tobytes()
    assert_reads_back(ws, tmp_path / "w.npz")


# ---------------------------------------------------------------- escaped: CSV folders

ESCAPED = [
    pytest.param(("Dense/kernel", "dense/kernel", "dense/bias", "DENSE/kernel"), id="case"),
    pytest.param(("a", "a.csv/x"), id="file-then-folder"),
    pytest.param(("a.csv/x", "a", "A"), id="folder-then-file"),
    pytest.param(("x/b", "x/b/c", "x/b.csv/c", "X/B.CSV/d"), id="prefix-components"),
    pytest.param(("manifest.json/x", "Manifest.JSON/y", "manifest.json", "manifest"), id="manifest"),
    pytest.param(("caf\u00e9", "cafe\u0301", "\u0e90", "\u00e90", "%E9", "%e9"), id="unicode-nfc-nfd"),
    pytest.param(("a./x", "a/x", "a /x", "a. /y", "...", " "), id="windows-trailing"),
    pytest.param(("con/x", "nul", "Com1.txt", "lpt9 .b", "console"), id="windows-devices"),
    pytest.param(("k" * 300, "K" * 300, "k" * 299 + "K"), id="long-parts"),
    pytest.param(("dense~2/kernel", "Dense/kernel", "dense/kernel"), id="suffix-lookalike"),
]  # fmt: skip


def portable(part: str) -> str:
    """How the strictest common file system (Windows NTFS, macOS APFS) compares a file name."""
    return unicodedata.normalize("NFC", part).casefold().rstrip(". ")


def assert_portable(folder: Path, count: int) -> None:
    """Every file and folder under folder has a name no sibling shares on a case-insensitive,
    normalizing or Windows file system, and no name is a Windows device."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) == count + 1  # one per tensor, plus manifest.json
    for parent in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        names = [child.name for child in parent.iterdir()]
        keys = [portable(n) for n in names]
        assert len(set(keys)) == len(keys), f"{parent}: {names} collide"
        assert all(n == n.rstrip(". ") for n in names), names
        assert not any(k.split(".")[0].rstrip(" ") in DEVICES for k in keys), names


@pytest.mark.parametrize("names", ESCAPED)
def test_csv_names_are_escaped_portably_and_read_back(names, tmp_path):
    ws = weights(*names)
    manifest = exporter.export(ws, tmp_path / "w.csv")
    assert_reads_back(ws, tmp_path / "w.csv")
    assert_portable(tmp_path / "w.csv", len(names))
    locations = [t["location"] for t in manifest["tensors"]]
    assert all((tmp_path / "w.csv" / loc).is_file() for loc in locations)
    again = exporter.export(ws, tmp_path / "again.csv")  # deterministic
    assert [t["location"] for t in again["tensors"]] == locations
    other = exporter.export(exporter.load(tmp_path / "w.csv"), tmp_path / "w2.json")
    assert [t["name"] for t in other["tensors"]] == list(names)


def test_csv_escape_keeps_the_first_spelling_and_is_recorded(tmp_path):
    manifest = exporter.export(
        weights("Dense/kernel", "dense/kernel", "a", "a.csv/x"), tmp_path / "w.csv"
    )
    locations = {t["name"]: t["location"] for t in manifest["tensors"]}
    assert locations == {"Dense/kernel": "Dense/kernel.csv", "dense/kernel": "dense~2/kernel.csv",
                         "a": "a.csv", "a.csv/x": "a.csv~2/x.csv"}  # fmt: skip
    on_disk = json.loads((tmp_path / "w.csv" / "manifest.json").read_text())
    assert {t["name"]: t["location"] for t in on_disk["tensors"]} == locations


def test_csv_cli_exports_what_used_to_collide(tmp_path, cli):
    source = tmp_path / "case.safetensors"
    exporter.export(weights("Dense/kernel", "dense/kernel", "a", "a.csv/x"), source)
    result = cli("export", source, "-o", tmp_path / "out.csv")
    assert result.exit_code == 0, result
    assert_reads_back(exporter.load(source), tmp_path / "out.csv")


@pytest.mark.parametrize("fmt", ["json", "csv-long"])
def test_names_that_look_like_format_keys_are_plain_data(fmt, tmp_path):
    names = ("data", "manifest", "manifest.json", "weights.csv", "__metadata__", 'q,"r', "a\u2028b")
    ws = weights(*names)
    out = tmp_path / ("w.json" if fmt == "json" else "w.csv")
    exporter.export(ws, out, csv_layout="long" if fmt == "csv-long" else "wide")
    assert_reads_back(ws, out)
    if fmt == "json":
        document = json.loads(out.read_text())
        assert list(document["data"]) == list(names) and document["manifest"]["format"]


def test_csv_path_too_long_for_the_system_is_refused_before_output(tmp_path, cli):
    name = "/".join(["\u00e9" * 33] * 15)  # 1004 bytes: about 3000 once percent-encoded
    source = tmp_path / "deep.safetensors"
    exporter.export(weights(name), source)
    assert cli("export", source, "-o", tmp_path / "short.csv").exit_code == 0  # the control
    assert_reads_back(weights(name), tmp_path / "short.csv")
    deep = tmp_path.joinpath(*["d" * 200] * 6)
    deep.mkdir(parents=True)
    result = cli("export", source, "-o", deep / "w.csv")
    assert result.exit_code == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "path longer than this system allows" in lines[0], result
    assert list(deep.iterdir()) == []
