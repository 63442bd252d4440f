"""The publish step in process (exporter/files/publish.py): an output that appears or is swapped
while an export runs is never replaced, with renameat2 and with the fallback of filesystems
without its flags (outputs.USE_RENAMEAT2 = False); the fallback's two renames of a folder put
the old folder back on an interrupt, a failure or a taken name, and SIGTERM waits for them.
The same races with real second processes: test_sec_races.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import hostile_corpus as hc
import pytest

import exporter
from exporter.core.errors import OutputExistsError
from exporter.files import publish as outputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["renameat2", "fallback"])
def mode(request, monkeypatch) -> str:
    """Run the test with renameat2, and with the fallback a filesystem without its flags gets."""
    if request.param == "fallback":
        monkeypatch.setattr(outputs, "USE_RENAMEAT2", False, raising=False)
    return request.param


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under path (or path itself) with its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def test_a_file_appearing_without_force_is_kept(tmp_path, mode):
    out = tmp_path / "out.npz"
    with pytest.raises(OutputExistsError, match="appeared"), outputs.atomic_file(out) as tmp:
        tmp.write_bytes(b"export")
        out.write_bytes(b"user")
    assert out.read_bytes() == b"user" and _leftovers(tmp_path) == []
    out.unlink()
    with outputs.atomic_file(out) as tmp:  # positive control
        tmp.write_bytes(b"export")
    assert out.read_bytes() == b"export"


@pytest.mark.parametrize("user_file", [True, False], ids=["folder-with-file", "empty-folder"])
def test_a_folder_appearing_without_force_is_kept(tmp_path, mode, user_file):
    """rename() onto an EMPTY folder succeeds on POSIX: the fallback must not do it either."""
    out = tmp_path / "out.csv"
    with pytest.raises(OutputExistsError, match="appeared"), outputs.atomic_dir(out) as tmp:
        (tmp / "manifest.json").write_text("{}")
        out.mkdir()
        if user_file:
            (out / "mine.txt").write_text("user")
    assert _tree(out) == ({"mine.txt": b"user"} if user_file else {})
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_force_refuses_an_output_swapped_after_the_check(tmp_path, mode, kind):
    """The checked output is replaced by another one (new inode) while the export runs."""
    fmt = "npz" if kind == "file" else "csv"
    out = tmp_path / f"out.{fmt}"
    exporter.export(hc.seed_weightset(), out, format=fmt)
    side = tmp_path / "side"
    exporter.export(hc.seed_weightset(), side, format=fmt)  # a valid export too, another inode
    (side / "mine.txt").write_text("user") if kind == "folder" else side.write_bytes(b"user")
    expected = _tree(side)
    opener = outputs.atomic_file if kind == "file" else outputs.atomic_dir
    with pytest.raises(OutputExistsError, match="changed"), opener(out, force=True) as tmp:
        (tmp / "manifest.json").write_text("new") if kind == "folder" else tmp.write_bytes(b"new")
        _remove(out)
        os.rename(side, out)
    assert _tree(out) == expected and _leftovers(tmp_path) == []
    with opener(out, force=True) as tmp:  # positive control: the output it checked is replaced
        (tmp / "manifest.json").write_text("new") if kind == "folder" else tmp.write_bytes(b"new")
    assert _tree(out) == ({"manifest.json": b"new"} if kind == "folder" else {"": b"new"})
    assert _leftovers(tmp_path) == []


def test_force_over_an_output_removed_meanwhile_publishes(tmp_path, mode):
    out = tmp_path / "out.npz"
    out.write_bytes(b"old")
    with outputs.atomic_file(out, force=True) as tmp:
        tmp.write_bytes(b"new")
        out.unlink()
    assert out.read_bytes() == b"new" and _leftovers(tmp_path) == []


def _moves_of_temp(monkeypatch, dest: Path, inject) -> list[str]:
    """Call inject() when the temporary folder is about to be renamed onto dest, through
    os.rename or os.replace (the fallback's second rename)."""
    calls = []
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def spy(src, dst, *args, _real=real, **kwargs):
            if Path(dst) == dest and Path(src).name.endswith(".tmp") and not calls:
                calls.append(str(src))
                inject()
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    return calls


@pytest.mark.parametrize("error", [KeyboardInterrupt, OSError])
def test_fallback_folder_replace_restores_the_old_folder(tmp_path, monkeypatch, error):
    """An interrupt or a failure between the fallback's two renames puts the old folder back."""
    monkeypatch.setattr(outputs, "USE_RENAMEAT2", False, raising=False)
    out = tmp_path / "out.csv"
    exporter.export(hc.seed_weightset(), out)
    (out / "extra.txt").write_text("kept with the old export")
    before = _tree(out)

    def interrupt():
        raise error("injected between the two renames")

    calls = _moves_of_temp(monkeypatch, out, interrupt)
    with pytest.raises((error, exporter.ExporterError)):
        exporter.export(hc.seed_weightset(), out, force=True)
    assert calls, "the injection point was never reached"
    assert _tree(out) == before and _leftovers(tmp_path) == []


def test_fallback_never_drops_the_old_folder_when_its_place_is_taken(tmp_path, monkeypatch):
    """Something takes the output's name between the fallback's two renames: neither it nor the
    previous export is lost; the error names where the previous export is kept."""
    monkeypatch.setattr(outputs, "USE_RENAMEAT2", False, raising=False)
    out = tmp_path / "out.csv"
    exporter.export(hc.seed_weightset(), out)
    before = _tree(out)
    real = os.rename

    def rename(src, dst, *args, **kwargs):
        done = real(src, dst, *args, **kwargs)
        if Path(src) == out and not out.exists():  # the old export was just moved aside
            out.write_text("user")
        return done

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "replace", rename)
    with pytest.raises(OutputExistsError, match="kept as") as caught:
        exporter.export(hc.seed_weightset(), out, force=True)
    assert out.read_text() == "user"
    kept = Path(str(caught.value).rsplit("kept as ", 1)[1])
    assert _tree(kept) == before and kept.parent.name.endswith(".old")


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import hostile_corpus as hc
    import exporter
    from exporter.files import publish as outputs
    outputs.USE_RENAMEAT2 = False
    out = Path(sys.argv[1])
    def spy(real):
        def move(src, dst, *args, **kwargs):
            if Path(dst) == out and Path(src).name.endswith(".tmp"):
                os.kill(os.getpid(), signal.SIGTERM)  # between the two renames
            return real(src, dst, *args, **kwargs)
        return move
    os.rename, os.replace = spy(os.rename), spy(os.replace)
    exporter.export(hc.seed_weightset(), out, force=True, format="csv")
    """
)


def test_sigterm_between_the_fallback_renames_leaves_an_export(tmp_path):
    """SIGTERM has no Python handler: it would kill the process with the old folder moved
    aside. It waits until the new folder is in place instead."""
    out = tmp_path / "out.csv"
    exporter.export(hc.seed_weightset(), out)
    (out / "extra.txt").write_text("old")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    proc = subprocess.run([sys.executable, "-c", SIGTERM_SCRIPT, str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert out.is_dir() and exporter.validate(out).ok, "the export folder is gone"
    assert not (out / "extra.txt").exists()  # the new export, complete
    assert _leftovers(tmp_path) == []


def test_renameat2_is_used_where_the_system_has_it(tmp_path):
    if sys.platform != "linux":
        pytest.skip("renameat2 is Linux only")
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    assert outputs._renameat2(tmp_path / "a", tmp_path / "b", outputs.RENAME_EXCHANGE)
    assert (tmp_path / "a").read_text() == "b" and (tmp_path / "b").read_text() == "a"
    with pytest.raises(FileExistsError):
        outputs._renameat2(tmp_path / "a", tmp_path / "b", outputs.RENAME_NOREPLACE)
