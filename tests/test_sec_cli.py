"""The command line's last line of defence: running out of memory is exit 3 in one line."""

from __future__ import annotations

import hostile_corpus as hc

import exporter.api


def test_memory_error_is_one_line_exit_3(tmp_path, cli, monkeypatch):
    source = hc.export_seed(tmp_path, "npz")
    assert cli("inspect", source).exit_code == 0  # the positive control

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(exporter.api, "inspect", exhausted)
    result = cli("inspect", source)
    assert result.exit_code == 3, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ran out of memory" in lines[0] and "Traceback" not in result.stderr
