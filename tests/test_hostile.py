"""Hostile and broken inputs: every case is refused safely, loses nothing and says why in one line.

The corpus (tests/hostile_corpus.py) is built by the tests; each case runs through the CLI
(`inspect` and `export`) and must end with its exit code, exactly one stderr line naming the file
and the reason, no traceback, no output file, and nothing else in the folder touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import hostile_corpus as hc
import pytest

import exporter
from exporter.core.errors import ExporterError, InputError, UnsafeInputError
from exporter.files import archive

ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under folder with its size and modification time."""
    found = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return found


def _params() -> list:
    return list(_each_param())


def _each_param():
    for case in hc.all_cases():
        for command in case.commands:
            yield pytest.param(case, command, id=f"{case.name}-{command}")


@pytest.mark.parametrize(("case", "command"), _params())
def test_corpus_case(case: hc.Case, command: str, tmp_path, cli):
    source_dir = tmp_path / "in"
    out_dir = tmp_path / "out"
    source_dir.mkdir()
    out_dir.mkdir()
    path = case.build(source_dir)
    before = snapshot(tmp_path)
    out = out_dir / "result.npz"
    args = [command, path] + (["-o", out] if command == "export" else [])
    result = cli(*args)

    assert result.exit_code == case.code, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert not (tmp_path / "in" / "payload_ran").exists()
    if case.code == 0:
        assert re.search(case.message, result.stderr), result
        return
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result
    assert lines[0].startswith("exporter: error: "), result
    assert path.name in lines[0], f"the message does not name the file: {lines[0]}"
    assert re.search(case.message, lines[0]), lines[0]
    assert result.stdout == ""
    after = snapshot(tmp_path)
    assert list(out_dir.iterdir()) == [], "no partial output and no temporary file"
    # the output folder's own mtime may change (a temporary file came and went); nothing else
    before.pop("out"), after.pop("out")
    assert after == before, "a refused input must not touch any other file"


def test_corpus_covers_what_the_issue_lists():
    names = {case.name for case in hc.CORPUS}
    for kind in ("npz", "json", "safetensors", "h5", "weights.h5", "keras", "onnx", "skops"):
        assert f"truncated-{kind}" in names
    for wanted in ("h5-soft-link", "h5-external-link", "h5-external-storage", "h5-virtual",
                   "keras-lambda", "pickle-payload", "skops-untrusted", "npz-bomb", "keras-bomb",
                   "onnx-external-dotdot", "onnx-external-hardlink", "npz-lying-sizes"):  # fmt: skip
        assert wanted in names


@pytest.mark.parametrize(("name", "build", "tensor"), hc.VALIDATE_FAILS, ids=lambda v: str(v))
def test_validate_fails_naming_the_tensor(name, build, tensor, tmp_path, cli):
    path = build(tmp_path)
    result = cli("validate", path)
    assert result.exit_code == 1, result
    assert f"✗ {tensor}:" in result.stderr
    assert "Traceback" not in result.stderr
    report = exporter.validate(path)
    assert not report.ok and tensor in [p["tensor"] for p in report.problems]


def test_a_sound_export_validates(tmp_path, cli):
    for fmt in ("npz", "json", "csv", "csv-long", "safetensors"):
        path = hc.export_seed(tmp_path, fmt)
        assert cli("validate", path).exit_code == 0, fmt


def test_valid_onnx_named_h5_is_read_by_content(tmp_path):
    path = hc.onnx_file(tmp_path / "model.onnx").rename(tmp_path / "actually_onnx.h5")
    ws = exporter.load(path)
    assert ws.info.kind == "onnx" and ws.names() == ["W", "b"]


def test_extra_data_not_in_the_manifest_is_reported(tmp_path):
    path = hc.export_seed(tmp_path, "npz")
    with zipfile.ZipFile(path, "a") as handle:
        handle.writestr("hidden.npy", hc.npy_bytes(hc.KERNEL))
    ws = exporter.load(path)
    assert "hidden" not in ws
    assert any("hidden.npy" in w for w in ws.info.warnings)


# ---------------------------------------------------------------- code in files


def test_pickle_payload_runs_only_with_trust(tmp_path, cli):
    """The refusal is real: the same file does run its payload once --trust is given."""
    path = hc._pickle_payload(tmp_path)
    marker = tmp_path / "payload_ran"
    for command in ("inspect", "export"):
        extra = ["-o", tmp_path / "x.npz"] if command == "export" else []
        result = cli(command, path, *extra)
        assert result.exit_code == 3 and "io.open" in result.stderr
        assert not marker.exists()
    with pytest.raises(UnsafeInputError):
        exporter.load(path)
    assert not marker.exists()
    result = cli("inspect", "--trust", path)
    assert marker.exists(), "with --trust the pickle is loaded (and its payload runs)"
    assert result.exit_code in (2, 3) and "Traceback" not in result.stderr  # it is no estimator


def test_skops_refusal_lists_every_untrusted_type(tmp_path):
    import os.path as osp

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    est = make_pipeline(
        FunctionTransformer(func=osp.basename), FunctionTransformer(func=osp.dirname)
    )
    path = hc.skops_file(tmp_path / "two.skops", est)
    with pytest.raises(UnsafeInputError) as info:
        exporter.load(path)
    message = str(info.value)
    assert "posixpath.basename" in message and "posixpath.dirname" in message
    assert "sklearn." not in message.split("numpy/scipy:")[1]


@pytest.fixture(scope="module")
def via_keras(tmp_path_factory):
    """Files loaded through Keras (--via keras): built once, TensorFlow imported once."""
    from exporter.core import frameworks

    frameworks.keras()
    folder = tmp_path_factory.mktemp("via_keras")
    names = ("keras-lambda", "h5-lambda", "keras-foreign-module", "h5-foreign-module",
             "h5-soft-link", "h5-external-link", "h5-virtual", "h5-huge-dataset", "keras-bomb")  # fmt: skip
    built = {}
    for case in hc.CORPUS:
        if case.name in names:
            sub = folder / case.name
            sub.mkdir()
            built[case.name] = case.build(sub)
    return built


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("keras-lambda", "safe mode"),
        ("h5-lambda", "safe mode"),
        ("keras-foreign-module", "outside Keras"),
        ("h5-foreign-module", "outside Keras"),
        ("h5-soft-link", "soft link"),
        ("h5-external-link", "external link"),
        ("h5-virtual", "virtual"),
        ("h5-huge-dataset", "declares"),
        ("keras-bomb", "zip bomb"),
    ],
)
def test_via_keras_refuses_code_links_and_bombs(via_keras, name, message, cli):
    path = via_keras[name]
    result = cli("inspect", "--via", "keras", path)
    assert result.exit_code == 3, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and path.name in lines[0], result


# ---------------------------------------------------------------- zip archives


def test_every_zip_reader_checks_members_before_inflating(tmp_path, monkeypatch):
    """npz, .keras and .skops all pass through archive.check_members first."""
    calls = []

    def refuse(zip_file, path):
        calls.append(Path(path).name)
        raise UnsafeInputError(f"{path}: checked")

    monkeypatch.setattr(archive, "check_members", refuse)
    for kind in ("npz", "keras", "skops"):
        path = hc.make_seed(tmp_path, kind)
        with pytest.raises(UnsafeInputError, match="checked"):
            exporter.load(path)
    assert calls == ["seed.npz", "seed.keras", "seed.skops"]


def test_lying_headers_are_bounded_by_the_declared_size(tmp_path):
    """A member that says 300 bytes but inflates to 200 MiB yields at most 300 bytes."""
    real = b"{" + b" " * (200 << 20) + b"}"
    path = hc.lying_zip(tmp_path / "lie.zip", "config.json", real, 300)
    got = 0
    with (
        archive.open_zip(path) as handle,
        handle.open("config.json") as member,
        pytest.raises(zipfile.BadZipFile, match="CRC"),
    ):
        while chunk := member.read(64):
            got += len(chunk)
    assert got <= 300


def _npz_with_member(path: Path, name: str) -> Path:
    """An NPZ holding `ok.npy` and a member called name (any bytes, NUL included: the name is
    patched into the archive after zipfile wrote a placeholder of the same length)."""
    placeholder = "q" * (len(name.encode()) - 4) + ".npy"
    with zipfile.ZipFile(path, "w") as handle:
        handle.writestr("ok.npy", hc.npy_bytes(hc.BIAS))
        handle.writestr(placeholder, hc.npy_bytes(hc.BIAS * 2))
    data = path.read_bytes()
    assert data.count(placeholder.encode()) == 2  # the local header and the central directory
    path.write_bytes(data.replace(placeholder.encode(), name.encode()))
    return path


UNSAFE_MEMBERS = [
    "a/../b.npy",  # climbs out of its folder
    "../up.npy",
    "/etc/x.npy",  # absolute
    "x.npy\x00/../../evil",  # zipfile shows only "x.npy": the stored name has a NUL
]


@pytest.mark.parametrize("name", UNSAFE_MEMBERS)
def test_unsafe_member_names_are_refused(tmp_path, name):
    path = _npz_with_member(tmp_path / "n.npz", name)
    with pytest.raises(UnsafeInputError) as refused:  # refused as unsafe, not as unrecognised
        exporter.load(path)
    assert f"unsafe member name {name!r}" in str(refused.value)
    assert str(path) in str(refused.value)


@pytest.mark.parametrize("name", ["a/b.npy", "a..b.npy", "..b.npy"])
def test_safe_member_names_next_to_them_load(tmp_path, name):
    """The control: the same archive with a harmless member name reads, names intact."""
    ws = exporter.load(_npz_with_member(tmp_path / "n.npz", name))
    assert [t.name for t in ws] == ["ok", name[:-4]]
    assert ws[name[:-4]].read().tolist() == (hc.BIAS * 2).tolist()


# ---------------------------------------------------------------- resource limits

LIMITED = textwrap.dedent(
    """
    import resource, sys
    limit = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.argv = ["exporter", "inspect", sys.argv[1]]
    from exporter.cli.app import main
    main()
    """
)

HUGE = ["npz-huge-header", "h5-huge-dataset", "weights-h5-huge-dataset", "onnx-huge-external",
        "safetensors-huge", "npz-bomb", "npz-lying-sizes", "keras-lying-config"]  # fmt: skip


@pytest.mark.parametrize("name", HUGE)
def test_huge_declarations_are_refused_under_a_2gib_address_space(name, tmp_path):
    (case,) = [c for c in hc.CORPUS if c.name == name]
    path = case.build(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_address_space_limit_is_real(tmp_path):
    """Under the same limit, allocating what a huge declaration asks for does fail."""
    code = LIMITED.replace(
        "from exporter.cli.app import main\nmain()",
        "import numpy\nnumpy.ones(1 << 30, numpy.float32)",
    )
    done = subprocess.run([sys.executable, "-c", code, "x"], capture_output=True, text=True)
    assert done.returncode != 0 and "MemoryError" in done.stderr


def test_errors_from_readers_name_the_file(tmp_path):
    """A reader error without the path gets it in front (WeightSet name checks, for example)."""
    path = hc._safetensors_key("../x")(tmp_path)
    with pytest.raises(ExporterError) as info:
        exporter.load(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_multi_line_library_message_is_printed_on_one_line(tmp_path, cli, monkeypatch):
    from exporter import api

    def fail(*args, **kwargs):
        raise InputError(f"{tmp_path}/m.h5: HDF5 says\n  line two\r\nline three")

    monkeypatch.setattr(api, "inspect", fail)
    monkeypatch.setattr(exporter, "inspect", fail)  # the CLI calls the public name
    result = cli("inspect", tmp_path)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines() == [
        f"exporter: error: {tmp_path}/m.h5: HDF5 says line two line three"
    ]
