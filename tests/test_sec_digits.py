"""Numbers in names and variables are ASCII digits only (issue #12, class 8 and its relatives).

str.isdigit() is true for '²' and '١'; int() refuses the first and reads the second as 1, so a
key or folder spelled with them either crashed exporter or posed as another key.
"""

from __future__ import annotations

import h5py
import hostile_corpus as hc
import numpy as np
import pytest

import exporter
from exporter.core.errors import UsageError
from exporter.models.keras.layout import ascii_number


@pytest.mark.parametrize("key", ["²", "١", "1²"])
def test_vars_keys_that_are_not_ascii_digits_are_not_variables(key, tmp_path):
    path = tmp_path / "w.weights.h5"
    hc.weights_h5(path)
    with h5py.File(path, "r+") as handle:
        handle[f"layers/dense/vars/{key}"] = np.ones(2, np.float32)
    ws = exporter.load(path)  # before: int('²') crashed the reader, '١' posed as key 1
    assert ws.names() == ["layers/dense/vars/0", "layers/dense/vars/1", f"layers/dense/vars/{key}"]
    arrays = [t.read() for t in ws]
    assert arrays[0].tobytes() == hc.KERNEL.tobytes() and arrays[1].tobytes() == hc.BIAS.tobytes()


def test_ascii_number():
    assert (
        ascii_number("12")
        and not ascii_number("²")
        and not ascii_number("١")
        and not ascii_number("")
    )


@pytest.mark.parametrize("epoch", ["100000000000000000000", "١٢", "-99999999999999", "1e9"])
def test_source_date_epoch_out_of_range_is_a_usage_error(epoch, tmp_path, monkeypatch, cli):
    source = hc.export_seed(tmp_path, "npz")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    with pytest.raises(UsageError):
        exporter.export(exporter.load(source), tmp_path / "out.json")
    result = cli("export", source, "-o", tmp_path / "cli.json")
    assert result.exit_code == 2, result
    assert "SOURCE_DATE_EPOCH" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "cli.json").exists()


def test_source_date_epoch_still_sets_the_time(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "out.json"
    exporter.export(exporter.load(hc.export_seed(tmp_path, "npz")), out)
    assert "2023-11-14T22:13:20Z" in out.read_text()
