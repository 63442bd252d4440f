"""JSON: one document {"data": {name: nested values}, "manifest": {...}}.

Values are exact (textformat): the shortest decimal that reads back to the same value of the
tensor's dtype; NaN and infinities as the tokens "NaN", "Infinity", "-Infinity".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..textformat import JSON_TOKENS, format_flat
from ..weightset import WeightSet, sha256_of
from . import WRITERS, WriteOptions, Writer


def _quote_tokens(strings: list[str]) -> list[str]:
    """NaN/Infinity tokens are JSON strings, numbers stay bare."""
    return [s if s[0] in "-0123456789tf" and s != "-Infinity" else f'"{s}"' for s in strings]


def nested_text(strings: list[str], shape: tuple[int, ...]) -> str:
    """C-order values as nested JSON arrays of the given shape."""
    if not shape:
        return strings[0]
    if 0 in shape:
        inner = nested_text([], shape[1:]) if shape[0] and len(shape) > 1 else None
        return "[" + ",".join([inner] * shape[0]) + "]" if inner else "[]"
    rows = strings
    for size in reversed(shape):
        rows = ["[" + ",".join(rows[i : i + size]) + "]" for i in range(0, len(rows), size)]
    return rows[0]


def tensor_json(array: np.ndarray) -> str:
    """One tensor's values as JSON text."""
    strings = _quote_tokens(format_flat(array, JSON_TOKENS))
    return nested_text(strings, tuple(array.shape))


def write_json(ws: WeightSet, path: Path, options: WriteOptions) -> dict:
    entries = []
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write('{"data": {')
        for index, tensor in enumerate(ws):
            array = tensor.read()
            out.write(",\n  " if index else "\n  ")
            out.write(json.dumps(tensor.name, ensure_ascii=False) + ": ")
            out.write(tensor_json(array))
            entries.append(mf.TensorEntry(tensor, sha256_of(array), f"data/{tensor.name}"))
            if options.progress:
                options.progress(tensor.name)
        manifest = mf.build(ws.info, entries, created=options.created_at)
        out.write("\n},\n")
        out.write('"manifest": ' + mf.dumps(manifest).rstrip("\n") + "\n}\n")
    return manifest


WRITERS.register(
    "json", Writer("json", (".json",), False, write_json, "one JSON document, exact values")
)
