"""The command line's one error boundary (exporter/cli/app.py): whatever a command raises is one
line on stderr and the README's exit code; --debug adds the traceback. Running out of memory is
exit 3, a bug exit 4, Ctrl-C 130."""

from __future__ import annotations

import hostile_corpus as hc
import pytest

import exporter
from exporter import CheckFailed, InputError, OutputExistsError, UnsafeInputError, UsageError

RAISED = [
    (UsageError("bad option"), 2, "exporter: error: bad option"),
    (OutputExistsError("x.npz exists"), 2, "exporter: error: x.npz exists"),
    (InputError("damaged\nfile"), 3, "exporter: error: damaged file"),
    (UnsafeInputError("refused"), 3, "exporter: error: refused"),
    (CheckFailed("differs"), 1, "exporter: error: differs"),
    (MemoryError(), 3, "exporter: error: ran out of memory"),
    (RuntimeError("oops"), 4, "exporter: internal error: RuntimeError: oops"),
    (KeyboardInterrupt(), 130, "exporter: interrupted; every output is either complete"),
]


@pytest.mark.parametrize("exc,code,line", RAISED, ids=lambda v: type(v).__name__)
def test_every_exception_is_one_line_and_its_exit_code(tmp_path, cli, monkeypatch, exc, code, line):
    source = hc.export_seed(tmp_path, "npz")
    assert cli("inspect", source).exit_code == 0  # the positive control

    def raising(*args, **kwargs):
        raise exc

    monkeypatch.setattr(exporter, "inspect", raising)  # what the inspect command calls
    result = cli("inspect", source)
    assert result.exit_code == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result
    assert "Traceback" not in result.stderr
    debug = cli("inspect", source, "--debug")
    assert debug.exit_code == code, debug
    assert ("Traceback" in debug.stderr) == (code != 130), debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith(line)


def test_the_boundary_covers_every_command(tmp_path, cli, monkeypatch):
    """No command escapes it: a bug in the library under any of them is exit 4 in one line."""
    source = hc.export_seed(tmp_path, "npz")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    for name in ("load", "inspect", "validate", "export_many"):
        monkeypatch.setattr(exporter, name, broken)
    commands = [["inspect", source], ["validate", source], ["diff", source, source],
                ["export", source, "-o", tmp_path / "x.npz"], ["spec", source, "-o", tmp_path / "s"],
                ["check", source, "--spec", source]]  # fmt: skip
    for args in commands:
        result = cli(*args)
        assert result.exit_code == 4, (args, result)
        assert result.stderr.strip().splitlines() == [
            "exporter: internal error: RuntimeError: a bug (run with --debug for the traceback "
            "and please report it)"
        ], args
