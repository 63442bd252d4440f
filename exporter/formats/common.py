"""What the export formats' readers share: a WeightSet built from a manifest, hash checks,
totals, unlisted data.

With a manifest, names, order and dtypes come from it and each tensor carries the manifest's
sha256, which `validate` checks. Data that disagrees with its manifest raises InputError when
the tensor is read, naming the tensor.
"""

from __future__ import annotations

import csv
import tokenize
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from exporter.core.dtypes import dtype_from_name, dtype_name
from exporter.core.errors import ExporterError, InputError
from exporter.core.weightset import Tensor, WeightSet, sha256_of
from exporter.formats import manifest as mf
from exporter.readers import IO_ERRORS

# What damaged export data raises while a tensor is read lazily: the file layer (IO_ERRORS), the
# npy header and text parsers (ValueError, tokenize.TokenError, OverflowError) and the csv module.
# Anything else is a bug in exporter and propagates (exit 4).
DATA_ERRORS = (*IO_ERRORS, ValueError, OverflowError, tokenize.TokenError, csv.Error)

MAX_MANIFEST_BYTES = 256 << 20  # a manifest larger than this is refused before it is parsed

Entry = dict[str, Any]  # one item of the manifest's "tensors" list


def note_unlisted(ws: WeightSet, present: list[str], listed: set[str], what: str) -> None:
    """Warn about data the manifest does not list (it is not read)."""
    extra = sorted(set(present) - listed)
    if extra:
        shown = ", ".join(repr(x) for x in extra[:3]) + (" ..." if len(extra) > 3 else "")
        ws.info.warnings.append(
            f"{len(extra)} {what}(s) not listed in the manifest were ignored: {shown}"
        )


def entry_tensor(entry: Entry, loader) -> Tensor:
    """The tensor a manifest entry describes, its data from loader."""
    return Tensor(
        entry["name"],
        dtype_from_name(entry["dtype"]),
        tuple(entry["shape"]),
        loader,
        trainable=entry.get("trainable"),
        origin=entry.get("origin"),
        sha256=entry["sha256"],
    )


def broken_tensor(entry: Entry, message: str) -> Tensor:
    """A tensor whose data cannot be found: reading it raises (validate reports it)."""

    def fail() -> np.ndarray:
        raise InputError(message)

    return entry_tensor(entry, fail)


def _hash_checked(loader, entry: Entry, warnings: list[str], where: str):
    """loader, checked: the data must have the manifest's dtype and shape (else InputError
    naming the file and tensor), and a sha256 that differs from the manifest's is noted in warnings.

    A mismatch is a warning, not an error: an export edited by hand is still data (apply reads
    one), and `validate` is the command that fails on it. inspect and export print the warning,
    and an export made from it records it in its own manifest.
    """

    dtype, shape = dtype_from_name(entry["dtype"]), tuple(entry["shape"])

    def load() -> np.ndarray:
        try:
            array = np.asarray(loader())
        except ExporterError:
            raise
        except DATA_ERRORS as exc:
            raise InputError(
                f"{where}: tensor {entry['name']!r} cannot be read, the data is damaged "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            ) from None
        if array.dtype != dtype or tuple(array.shape) != shape:
            raise InputError(
                f"{where}: tensor {entry['name']!r}: data is {dtype_name(array.dtype)}"
                f"{list(array.shape)}, the manifest says {entry['dtype']}{list(shape)}"
            )
        if sha256_of(array) != entry["sha256"]:
            note = (
                f"tensor {entry['name']!r}: data does not match the manifest's sha256 "
                "(edited or damaged; run exporter validate)"
            )
            if note not in warnings:
                warnings.append(note)
        return array

    return load


def from_manifest(
    path: Path, manifest: dict, kind: str, make: Callable[[Entry], Tensor]
) -> WeightSet:
    """The WeightSet a manifest lists, in its order: make(entry) gives each tensor, whose
    data is then checked against the manifest's dtype, shape and sha256 when it is read."""
    info = mf.info_from_manifest(manifest, kind, path.name)
    info.extra["manifest"] = manifest
    _check_totals(manifest, str(path))
    ws = WeightSet(info=info)
    for entry in manifest["tensors"]:
        tensor = make(entry)
        if tensor.sha256 is not None:
            tensor.source = _hash_checked(tensor.source, entry, info.warnings, str(path))
        ws.add(tensor)
    return ws


def _check_totals(manifest: dict, where: str) -> None:
    """The manifest's totals must agree with its own tensor list."""
    totals, entries = manifest.get("totals"), manifest["tensors"]
    if not isinstance(totals, dict):
        return
    count = sum(int(np.prod(e["shape"], dtype=object)) for e in entries)
    found = {"tensors": len(entries), "parameters": count}
    for key, value in found.items():
        if key in totals and totals[key] != value:
            raise InputError(
                f"{where}: manifest totals say {totals[key]} {key} but it lists {value}; "
                "the manifest is damaged"
            )
