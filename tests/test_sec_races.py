"""No user file is ever destroyed, under races too (issue #12, classes 3 and 8, the store lock).

Publishing never replaces what it did not check: an output (file or CSV folder) that appears
while an export runs is left alone and the export exits 2; two exports to the same -o give one
winner; --force replaces only the very file or folder it checked; replacing a folder on a
filesystem without renameat2 puts the old folder back on an interrupt or failure (in process:
test_sec_publish.py); the store's .lock is never followed through a symlink; and a store folder
named v² does not crash it.

The races use real second processes (bounded in iterations and time) against the CLI run as
`python -m exporter`; the fallback for filesystems without renameat2 flags is forced with
EXPORTER_NO_RENAMEAT2=1.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import hostile_corpus as hc
import numpy as np
import pytest

import exporter

ROOT = Path(__file__).resolve().parents[1]
MODES = ["renameat2", "fallback"]
RACE_SECONDS = 20
RACE_ITERATIONS = 4


# ---------------------------------------------------------------- helpers


def _env(mode: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if mode == "fallback":
        env["EXPORTER_NO_RENAMEAT2"] = "1"
    return env


def _export_cmd(source: Path, out: Path, fmt: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "exporter", "--quiet", "export", str(source), "-o", str(out),
            "--format", fmt, *extra]  # fmt: skip


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under path (or path itself) with its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


def _one_error_line(stderr: str, out: Path) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), stderr
    assert out.name in lines[0] and "Traceback" not in stderr, stderr


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """Plain .npz files that keep an export writing for a while: 8 MB for binary outputs, and
    300k parameters for the text formats (JSON, CSV), which take longer per parameter."""
    folder = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    paths = {}
    for kind, count in (("binary", 500_000), ("text", 50_000)):
        paths[kind] = folder / f"{kind}.npz"
        arrays = {
            f"layer{i}/kernel": rng.standard_normal(count, dtype=np.float32) for i in range(4)
        }
        np.savez(paths[kind], **arrays)
    return paths


def _source(sources: dict[str, Path], fmt: str) -> Path:
    return sources["binary" if fmt == "npz" else "text"]


# The second process: whenever an export's temporary (.NAME.*.tmp) is there, it does its move on
# every other export (the others are the positive controls), while holding the flock of its log,
# so the test reads the log only between two of its moves.
RACER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    folder, name, action, log_path, stop = sys.argv[1:6]
    deadline = time.monotonic() + float(sys.argv[6])
    dest = os.path.join(folder, name)
    prefix = "." + name + "."

    def writing():
        return any(e.startswith(prefix) and e.endswith(".tmp") for e in os.listdir(folder))

    def act(token):
        if action == "file":  # the user's own file appears at the output's name
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, token.encode())
            os.close(fd)
        elif action == "dir":  # the user's folder, with a file of theirs, appears there
            os.mkdir(dest)
            try:  # (the folder is the user's from here on, even if this fails)
                with open(os.path.join(dest, "notes.txt"), "w") as handle:
                    handle.write(token)
            except OSError:
                pass
        elif action == "swap":  # the checked output is replaced by another file (new inode)
            side = os.path.join(folder, "user.side")
            with open(side, "w") as handle:
                handle.write(token)
            os.replace(side, dest)
        return "acted"

    seen = 0
    with open(log_path, "a") as log:
        while time.monotonic() < deadline and not os.path.exists(stop):
            fcntl.flock(log, fcntl.LOCK_EX)
            try:
                if writing():
                    seen += 1
                    if seen % 2:
                        token = "user data %d" % seen
                        try:
                            outcome = act(token)
                        except OSError as exc:
                            outcome = "failed:" + exc.__class__.__name__
                        log.write("%s %s\\n" % (outcome, token))
                        log.flush()
                    while writing() and time.monotonic() < deadline:
                        time.sleep(0.001)
            finally:
                fcntl.flock(log, fcntl.LOCK_UN)
            time.sleep(0.0005)
    """
)


class Racer:
    """The racing second process and its log."""

    def __init__(self, folder: Path, name: str, action: str, work: Path):
        self.log, self.stop = work / "racer.log", work / "racer.stop"
        self.log.touch()
        args = [str(folder), name, action, str(self.log), str(self.stop), str(RACE_SECONDS + 30)]
        self.proc = subprocess.Popen([sys.executable, "-c", RACER, *args])
        self.read = 0

    def moves(self) -> list[str]:
        """The racer's moves since the last call, read once it is between two moves."""
        with open(self.log) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            lines = handle.read().splitlines()
            fcntl.flock(handle, fcntl.LOCK_UN)
        new, self.read = lines[self.read :], len(lines)
        return new

    def close(self) -> None:
        self.stop.touch()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def _race(run_one, racer: Racer, check) -> tuple[int, int]:
    """Run exports against the racer (bounded in count and time); check(result, moves) judges
    each. Returns (exports the racer moved against, exports left alone)."""
    moved = alone = 0
    deadline = time.monotonic() + RACE_SECONDS
    try:
        for _ in range(RACE_ITERATIONS):
            if time.monotonic() > deadline:
                break
            result = run_one()
            moves = [m for m in racer.moves() if m.startswith("acted")]
            check(result, moves)
            moved, alone = moved + bool(moves), alone + (not moves)
    finally:
        racer.close()
    assert moved and alone, f"the race never happened ({moved} raced, {alone} alone)"
    return moved, alone


def _run(cmd: list[str], mode: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=_env(mode), capture_output=True, text=True,
                          timeout=120)  # fmt: skip


# ---------------------------------------------------------------- races with a second process


@pytest.mark.parametrize(("fmt", "action"), [("npz", "file"), ("csv", "dir")])
@pytest.mark.parametrize("race_mode", MODES)
def test_an_output_appearing_during_the_export_is_never_replaced(
    sources, tmp_path, fmt, action, race_mode
):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / f"result.{fmt}"
    racer = Racer(folder, out.name, action, tmp_path)

    def run_one():
        with open(racer.log) as handle:  # the racer waits for the next export
            fcntl.flock(handle, fcntl.LOCK_EX)
            _remove(out)
            fcntl.flock(handle, fcntl.LOCK_UN)
        return _run(_export_cmd(_source(sources, fmt), out, fmt), race_mode)

    def check(result, moves):
        if moves:  # the user's file or folder came first: it is kept, the export exits 2
            token = moves[0].split(" ", 1)[1]
            expected = {"": token.encode()} if action == "file" else {"notes.txt": token.encode()}
            assert _tree(out) == expected, "the user's output was replaced"
            assert result.returncode == 2, result.stderr
            _one_error_line(result.stderr, out)
        else:  # positive control: nothing raced, the export is published
            assert result.returncode == 0, result.stderr
            assert exporter.validate(out).ok
        assert _leftovers(folder) == []

    _race(run_one, racer, check)


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@pytest.mark.parametrize("race_mode", MODES)
def test_force_never_replaces_a_file_swapped_in_after_the_check(sources, tmp_path, race_mode):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "result.npz"
    racer = Racer(folder, out.name, "swap", tmp_path)

    def run_one():
        with open(racer.log) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _remove(out)
            exporter.export(hc.seed_weightset(), out)  # the output --force may replace
            fcntl.flock(handle, fcntl.LOCK_UN)
        return _run(_export_cmd(sources["binary"], out, "npz", "--force"), race_mode)

    def check(result, moves):
        if moves:  # the file swapped in after the check is never replaced
            token = moves[0].split(" ", 1)[1]
            assert out.read_text() == token, "the file swapped in was replaced"
            if result.returncode != 0:  # (0: the racer came after the export was published)
                assert result.returncode == 2, result.stderr
                _one_error_line(result.stderr, out)
        else:
            assert result.returncode == 0, result.stderr
            assert exporter.load(out).names() == [f"layer{i}/kernel" for i in range(4)]
        assert _leftovers(folder) == []

    _race(run_one, racer, check)


# The CLI in a second process that, once its output is complete and just before publishing it
# (the os.chmod of the temporary, in every version of outputs.py), waits until the other export
# is there too (bounded): both have passed the existence check, so only publishing decides.
BARRIER = textwrap.dedent(
    """
    import os, sys, time
    barrier, me = sys.argv[1], sys.argv[2]
    real_chmod = os.chmod
    def chmod(path, mode, *args, **kwargs):
        if ".tmp" in str(path) and not os.path.exists(os.path.join(barrier, me)):
            open(os.path.join(barrier, me), "w").close()
            deadline = time.monotonic() + 60
            while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
                time.sleep(0.005)
        return real_chmod(path, mode, *args, **kwargs)
    os.chmod = chmod
    sys.argv = ["exporter", *sys.argv[3:]]
    from exporter.cli.app import main
    main()
    """
)


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("race_mode", MODES)
@pytest.mark.parametrize("meet", [True, False], ids=["meeting", "free"])
def test_two_exports_to_the_same_output_have_one_winner(sources, tmp_path, fmt, race_mode, meet):
    """Two CLI exports to one -o at once: exactly one publishes, the other exits 2. 'meeting':
    both wait for each other right before publishing; 'free': started together, unaided."""
    out = tmp_path / f"out.{fmt}"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    command = _export_cmd(sources["text"], out, fmt)
    procs = []
    for me in ("a", "b"):
        args = [sys.executable, "-c", BARRIER, str(barrier), me, *command[3:]] if meet else command
        procs.append(subprocess.Popen(args, cwd=ROOT, env=_env(race_mode), text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    results = []
    for proc in procs:
        try:
            results.append((proc.wait(timeout=120), proc.stderr.read()))
        finally:
            if proc.poll() is None:
                proc.kill()
    assert sorted(code for code, _ in results) == [0, 2], results
    _one_error_line(next(err for code, err in results if code == 2), out)
    assert exporter.validate(out).ok
    assert _leftovers(tmp_path) == []
    if meet:
        assert sorted(os.listdir(barrier)) == ["a", "b"], "the exports never met"


# ---------------------------------------------------------------- the store


def test_store_lock_symlink_is_never_followed(tmp_path, cli):
    source = hc.export_seed(tmp_path, "npz")
    store = tmp_path / "store"
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = outside / "marker.txt"
    marker.write_text("must stay")
    (store / "seed").mkdir(parents=True)
    (store / "seed" / ".lock").symlink_to(marker)
    (store / "other").mkdir()
    (store / "other" / ".lock").symlink_to(outside / "created.txt")  # a dangling link
    for name in ("seed", "other"):
        result = cli("export", source, "--store", store, "--name", name)
        assert result.exit_code == 3, result
        _one_error_line(result.stderr, store / name / ".lock")
        assert sorted(p.name for p in (store / name).iterdir()) == [".lock"]
    assert marker.read_text() == "must stay" and sorted(os.listdir(outside)) == ["marker.txt"]
    (store / "seed" / ".lock").unlink()  # positive control
    result = cli("export", source, "--store", store, "--name", "seed")
    assert result.exit_code == 0, result
    assert (store / "seed" / ".lock").is_file() and not (store / "seed" / ".lock").is_symlink()


def test_store_index_symlink_is_refused(tmp_path, cli):
    source = hc.export_seed(tmp_path, "npz")
    store = tmp_path / "store"
    (store / "seed").mkdir(parents=True)
    outside = tmp_path / "outside.json"
    index = {"format": "exporter.store", "format_version": "1.0.0", "model": "seed", "versions": []}
    outside.write_text(json.dumps(index))
    (store / "seed" / "index.json").symlink_to(outside)
    result = cli("export", source, "--store", store, "--name", "seed")
    assert result.exit_code in (2, 3), result
    _one_error_line(result.stderr, store / "seed" / "index.json")
    assert json.loads(outside.read_text()) == index
    assert sorted(os.listdir(store / "seed")) == [".lock", "index.json"]  # no version written
    assert cli("versions", store / "seed").exit_code == 3


def test_store_with_a_superscript_version_folder(tmp_path, cli):
    """'²'.isdigit() is True and int('²') raises: version folders are v + ASCII digits only."""
    source = hc.export_seed(tmp_path, "npz")
    store = tmp_path / "store"
    for name in ("v²", "v١", "v3x", "v"):
        (store / "seed" / name).mkdir(parents=True)
    result = cli("export", source, "--store", store, "--name", "seed")
    assert result.exit_code == 0 and "new version v1" in result.stderr, result
    listing = cli("versions", store / "seed", "--json")
    assert listing.exit_code == 0, listing
    assert [v["version"] for v in json.loads(listing.stdout)["versions"]] == [1]
    assert sorted(os.listdir(store / "seed" / "v²")) == []  # untouched
    table = cli("versions", store / "seed")
    assert table.exit_code == 0 and "v1" in table.stdout
