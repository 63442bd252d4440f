"""Golden files: exports written by format version 1.0.0 still read, validate and equal their
sources, and exporting the same source today gives the same bytes (tests/golden/make_golden.py
wrote them; they are never rewritten)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

import exporter

GOLDEN = Path(__file__).parent / "golden"
VERSIONS = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
EXPORTS = sorted(p for folder in VERSIONS for p in folder.iterdir() if p.stem.startswith("tiny-"))
FORMAT_OF = {
    ".npz": "npz", ".json": "json", ".csv": "csv", ".safetensors": "safetensors", ".h": "c",
}  # fmt: skip


def _source_of(export: Path) -> Path:
    stem, kind = export.stem.rsplit("-", 1)
    return export.parent / f"{stem}.{kind}"


def _manifest(export: Path) -> dict:
    ws = exporter.load(export)
    return ws.info.extra["manifest"]


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_there_are_golden_files_of_every_format():
    assert VERSIONS, "tests/golden holds no format version"
    for folder in VERSIONS:
        made = {FORMAT_OF[p.suffix] for p in folder.iterdir() if p.stem.startswith("tiny-")}
        assert made == set(FORMAT_OF.values()), folder


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_export_reads_validates_and_equals_its_source(export):
    report = exporter.validate(export)
    assert report.ok, report.problems
    got, want = exporter.load(export), exporter.load(_source_of(export))
    assert got.names() == want.names()
    for name in want.names():
        a, b = got[name].read(), want[name].read()
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # bit for bit, NaN payloads included


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_exporting_the_source_today_gives_the_golden_bytes(export, tmp_path, monkeypatch):
    """Same source, same format: byte-identical, once the producer versions are the golden ones."""
    producer = _manifest(export)["producer"]
    manifest_module = importlib.import_module("exporter.formats.manifest")
    monkeypatch.setattr(manifest_module, "__version__", producer["version"])
    monkeypatch.setattr(np, "__version__", producer["libraries"]["numpy"])
    if "scikit-learn" in producer["libraries"]:
        sklearn = pytest.importorskip("sklearn")
        monkeypatch.setattr(sklearn, "__version__", producer["libraries"]["scikit-learn"])
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    out = tmp_path / export.name
    exporter.export(_source_of(export), out, format=FORMAT_OF[export.suffix])
    golden, today = _tree(export), _tree(out)
    assert sorted(today) == sorted(golden)
    for member, data in golden.items():
        assert today[member] == data, f"{export.name}/{member} differs from the golden file"


def test_a_changed_golden_byte_is_caught(tmp_path):
    """The byte comparison can fail: one flipped value in a copy no longer validates."""
    export = next(p for p in EXPORTS if p.suffix == ".json")
    doc = json.loads(export.read_text())
    name = next(iter(doc["data"]))
    doc["data"][name] = json.loads(json.dumps(doc["data"][name]).replace("1", "2", 1))
    broken = tmp_path / export.name
    broken.write_text(json.dumps(doc))
    assert not exporter.validate(broken).ok
