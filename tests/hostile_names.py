"""Hostile cases of issue #12, class 7: tensor names that collide in the output format.

Each input is sound and reads fine (inspect exits 0), but its names cannot be written apart as
an NPZ (the corpus exports to `result.npz`): numpy.load finds a member by its name and by its
name without `.npy`, the member's own name winning, so `numpy.load(out)["x.npy"]` would return
tensor `x`, and a tensor `manifest.json` would be shadowed by the manifest member. `export` must
refuse them (exit 3, one line naming the input, both tensors and the format) before any output
exists. The inputs are written with the formats' own libraries, not with exporter.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hostile_corpus import Case


def _safetensors_alias(folder: Path) -> Path:
    """A safetensors file with keys `x` and `x.npy`."""
    from safetensors.numpy import save_file

    path = folder / "alias.safetensors"
    save_file({"x": np.arange(3, dtype=np.float32), "x.npy": np.ones(2, np.float32)}, str(path))
    return path


def _plain_npz_alias(folder: Path) -> Path:
    """A plain NPZ (no manifest) with members `w.npy` and `w.npy.npy`: tensors `w`, `w.npy`."""
    path = folder / "alias.npz"
    np.savez(path, **{"w": np.arange(4, dtype=np.int64), "w.npy": np.zeros(1, np.float64)})
    return path


def _json_manifest_name(folder: Path) -> Path:
    """A JSON export holding a tensor named `manifest.json` (written with exporter's layout)."""
    import exporter

    ws = exporter.WeightSet()
    ws.add(exporter.Tensor.from_array("manifest.json", np.array([1.5, -2.0], np.float32)))
    ws.add(exporter.Tensor.from_array("dense/bias", np.zeros(2, np.float32)))
    path = folder / "shadow.json"
    exporter.export(ws, path)
    json.loads(path.read_text())  # a sound document: only its names are the problem
    return path


CASES: list[Case] = [
    Case("names-npz-alias-safetensors", _safetensors_alias, 3, r"'x'.*'x\.npy'.*numpy\.load", ("export",)),
    Case("names-npz-alias-plain-npz", _plain_npz_alias, 3, r"npz.*'w'.*'w\.npy'", ("export",)),
    Case("names-npz-manifest-member", _json_manifest_name, 3, r"'manifest\.json'.*manifest", ("export",)),
]  # fmt: skip
