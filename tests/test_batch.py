"""Batch export from Python (exporter.export_many): what `exporter export A B ... -o DIR` does,
without the command line. Outputs are planned first, each source's failure is its own result,
and Ctrl-C keeps the finished outputs."""

from __future__ import annotations

import os
from pathlib import Path

import hostile_corpus as hc
import numpy as np
import pytest

import exporter
from exporter import UsageError
from exporter.batch import BatchInterrupted, ExportResult, stem


@pytest.fixture
def sources(tmp_path) -> list[Path]:
    """Three small sources of different kinds: an NPZ export, a Keras .h5, a safetensors export."""
    folder = tmp_path / "models"
    folder.mkdir()
    return [
        hc.export_seed(folder, "npz", name="alpha.npz"),
        hc.legacy_h5(folder / "beta.h5"),
        hc.export_seed(folder, "safetensors", name="gamma.safetensors"),
    ]


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("jobs", [1, 2])
def test_several_sources_into_a_folder(sources, tmp_path, jobs):
    out = tmp_path / "out" / "deep"  # missing folders are created
    seen: list[str] = []
    results = exporter.export_many(
        sources, out, format="npz", jobs=jobs, on_result=lambda r: seen.append(r.source)
    )
    assert [r.source for r in results] == [str(s) for s in sources]  # in the order given
    assert sorted(seen) == sorted(str(s) for s in sources)  # each reported once, as it ended
    assert all(r.ok and r.exit_code == 0 and r.error is None for r in results), results
    assert [r.out for r in results] == [str(out / f"{n}.npz") for n in ("alpha", "beta", "gamma")]
    assert listing(out) == ["alpha.npz", "beta.npz", "gamma.npz"]
    assert [(r.tensors, r.parameters) for r in results] == [(6, 18), (2, 8), (6, 18)]
    for source, result in zip(sources, results, strict=True):
        assert exporter.validate(result.out).ok
        back, original = exporter.load(result.out), exporter.load(source)
        assert [t.name for t in back] == [t.name for t in original]
        assert all(np.array_equal(a.read(), b.read()) for a, b in zip(back, original, strict=True))


def test_workers_write_the_same_bytes_as_one_process(sources, tmp_path):
    one = exporter.export_many(sources, tmp_path / "one", format="safetensors")
    two = exporter.export_many(sources, tmp_path / "two", format="safetensors", jobs=3)
    assert [Path(r.out).read_bytes() for r in one] == [Path(r.out).read_bytes() for r in two]
    assert all(r.exception is None for r in two)  # never sent between processes


def test_a_csv_batch_writes_folders(sources, tmp_path):
    results = exporter.export_many(sources[:2], tmp_path / "csv", format="csv")
    assert all(r.ok and r.folder for r in results)
    assert listing(tmp_path / "csv") == ["alpha.csv", "beta.csv"]
    assert all((Path(r.out) / "manifest.json").is_file() for r in results)


def test_one_source_is_one_export_to_out(sources, tmp_path):
    (result,) = exporter.export_many(str(sources[0]), tmp_path / "single.json")  # format: the name
    assert result.ok and result.out == str(tmp_path / "single.json") and not result.folder
    assert exporter.validate(tmp_path / "single.json").ok


def test_names_that_clash_are_refused_before_anything_is_written(sources, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = hc.export_seed(other, "json", name="alpha.json")  # alpha.npz and alpha.json -> alpha
    out = tmp_path / "out"
    with pytest.raises(UsageError, match="sources would write the same output") as raised:
        exporter.export_many([*sources, twin], out, format="npz")
    assert f"{sources[0]} and {twin} -> {out / 'alpha.npz'}" in str(raised.value)
    assert not out.exists()


def test_an_existing_output_needs_force_and_the_others_are_written(sources, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "beta.npz").write_bytes(b"precious")
    results = exporter.export_many(sources, out, format="npz")
    assert [r.ok for r in results] == [True, False, True]
    beta = results[1]
    assert beta.exit_code == 2 and "--force" in beta.error and beta.out is None
    assert isinstance(beta.exception, exporter.OutputExistsError)
    assert (out / "beta.npz").read_bytes() == b"precious"
    assert listing(out) == ["alpha.npz", "beta.npz", "gamma.npz"]  # no temporary left
    again = exporter.export_many(sources, out, format="npz", force=True)
    assert all(r.ok for r in again) and exporter.validate(out / "beta.npz").ok


def test_a_failing_source_among_good_ones(sources, tmp_path):
    damaged = tmp_path / "models" / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04garbage")
    missing = tmp_path / "models" / "missing.keras"
    results = exporter.export_many([damaged, *sources, missing], tmp_path / "out", format="json")
    assert [r.ok for r in results] == [False, True, True, True, False]
    assert results[0].exit_code == 3 and "damaged zip" in results[0].error
    assert results[4].exit_code == 3 and "no such file" in results[4].error
    assert listing(tmp_path / "out") == ["alpha.json", "beta.json", "gamma.json"]


def test_a_bug_under_one_source_is_its_result_exit_4(sources, tmp_path, monkeypatch):
    from exporter import api

    real = api.load

    def load(source, **options):
        if Path(source).name == "beta.h5":
            raise ZeroDivisionError("a bug")
        return real(source, **options)

    monkeypatch.setattr(api, "load", load)
    results = exporter.export_many(sources, tmp_path / "out", format="npz")
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].exit_code == 4 and isinstance(results[1].exception, ZeroDivisionError)
    assert results[1].error == (
        "internal error: ZeroDivisionError: a bug (run it alone with --debug)"
    )


def test_ctrl_c_keeps_the_finished_outputs(sources, tmp_path, monkeypatch):
    from exporter import api

    real = api.load

    def load(source, **options):
        if Path(source).name == "beta.h5":
            raise KeyboardInterrupt
        return real(source, **options)

    monkeypatch.setattr(api, "load", load)
    out = tmp_path / "out"
    with pytest.raises(BatchInterrupted) as raised:
        exporter.export_many(sources, out, format="npz")
    assert isinstance(raised.value, KeyboardInterrupt)  # a plain Ctrl-C to code that expects one
    assert [r.source for r in raised.value.results] == [str(sources[0])]
    assert listing(out) == ["alpha.npz"] and exporter.validate(out / "alpha.npz").ok


def test_into_a_store_a_new_version_only_when_the_weights_change(sources, tmp_path):
    store = tmp_path / "store"
    (first,) = exporter.export_many(sources[:1], store=store, name="m")
    assert first.ok and first.created and first.version == 1 and first.path == "v1/weights.npz"
    assert first.store == str(store) and first.out == str(store / "m" / "v1" / "weights.npz")
    assert exporter.validate(first.out).ok
    (same,) = exporter.export_many(sources[:1], store=store, name="m")
    assert same.ok and not same.created and same.version == 1
    several = exporter.export_many(sources, store=store, format="json", jobs=2)
    assert [(r.created, r.path) for r in several] == [(True, "v1/weights.json")] * 3
    assert listing(store) == ["alpha", "beta", "gamma", "m"]


# (keyword arguments besides the three sources: "o" means an output folder in tmp_path, "src"
# the first source; the message the UsageError holds)
USAGE_ERRORS = {
    "format": ({"out": "o", "format": "parquet"}, "unknown format 'parquet'; registered: "),
    "jobs": ({"out": "o", "format": "npz", "jobs": 0}, "--jobs must be at least 1"),
    "name": ({"out": "o", "format": "npz", "name": "m"}, "--name applies to one source at a"),
    "no-out": ({"format": "npz"}, "missing -o/--out"),
    "out-and-store": ({"out": "o", "store": "st"}, "give -o/--out or --store, not both"),
    "no-format": ({"out": "o"}, "give --format (npz, json, csv or safetensors)"),
    "out-is-a-file": ({"out": "src", "format": "npz"}, "-o names a folder; "),
    "long-not-csv": ({"out": "o", "format": "npz", "csv_layout": "long"}, "this export is npz"),
    "layout": ({"out": "o", "format": "csv", "csv_layout": "tall"}, "unknown --csv-layout 'tall'"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_errors_are_raised_before_anything_is_written(sources, tmp_path, case):
    options, message = USAGE_ERRORS[case]
    paths = {"o": tmp_path / "o", "st": tmp_path / "st", "src": sources[0]}
    options = {key: paths.get(value, value) for key, value in options.items()}
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(UsageError) as raised:
        exporter.export_many(sources, **options)
    assert message in str(raised.value)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_file_in_the_way_of_the_folder_is_refused(sources, tmp_path):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(UsageError, match="a file is in the way"):
        exporter.export_many(sources, tmp_path / "afile" / "out", format="npz")
    assert (tmp_path / "afile").read_text() == "mine"


def test_output_names_drop_model_and_export_endings():
    assert stem("models/resnet.weights.h5") == "resnet"
    assert stem("a/B.KERAS") == "B" and stem("x.skops") == "x" and stem("m.onnx") == "m"
    for ending in ("npz", "json", "safetensors", "csv"):
        assert stem(f"exports/w.{ending}") == "w"
    assert stem("exports/folder/") == "folder" and stem("weights.bin") == "weights"


def test_results_are_plain_data():
    result = ExportResult("a.npz", out="o/a.npz", tensors=2)
    assert result.ok and result.warnings == [] and result.exception is None
    assert result == ExportResult("a.npz", out="o/a.npz", tensors=2, exception=ValueError())
