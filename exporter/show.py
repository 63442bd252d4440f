"""exporter show: one tensor's values as text, exact unless a precision is asked for."""

from __future__ import annotations

from typing import Any

from exporter.api import Source, load
from exporter.core.errors import InputError, UsageError
from exporter.core.weightset import WeightSet

SHOW_FORMATS = ("text", "json", "csv")


def show(
    source: Source,
    name: str,
    *,
    format: str = "text",
    precision: int | None = None,
    **load_options: Any,
) -> str:
    """One tensor's values as text: exact by default (every value reads back to the same
    bits), or rounded to `precision` significant digits. format: text (nested brackets),
    json ({"name", "dtype", "shape", "values"}), csv (rows x columns as in a CSV export)."""
    import json

    from exporter.formats.csv_text import wide_matrix, wide_text
    from exporter.formats.json_text import tensor_json
    from exporter.formats.textformat import CSV_TOKENS, JSON_TOKENS, nested_text

    if format not in SHOW_FORMATS:
        raise UsageError(f"unknown --format {format!r}; use {', '.join(SHOW_FORMATS)}")
    if precision is not None and not 1 <= precision <= 40:
        raise UsageError(f"--precision {precision}: give 1 to 40 significant digits")
    ws = source if isinstance(source, WeightSet) else load(source, **load_options)
    tensor = ws.get(name)
    if tensor is None:
        near = [n for n in ws.names() if name.lower() in n.lower()][:5] or ws.names()[:5]
        raise InputError(f"no tensor {name!r} in {source}; some names: {', '.join(near)}")
    array = tensor.read()
    if format == "csv" and (precision is None or not array.size):
        return wide_text(array) if array.size else ""  # exactly a CSV export's data file
    if precision is None:
        nested = tensor_json(array)  # exactly a JSON export's values ("NaN" quoted: valid JSON)
    else:
        quote = format != "csv"  # JSON and text spell non-finite values as quoted tokens
        tokens = JSON_TOKENS if quote else CSV_TOKENS
        strings = [_rounded(v, precision, tokens, quote) for v in array.reshape(-1).tolist()]
        if format == "csv":
            rows, width = wide_matrix(array).shape
            return "".join(
                ",".join(strings[r * width : (r + 1) * width]) + "\n" for r in range(rows)
            )
        nested = nested_text(strings, tuple(array.shape))
    if format == "json":
        head = json.dumps(
            {"name": tensor.name, "dtype": tensor.dtype_name, "shape": list(array.shape)}
        )
        return head[:-1] + f', "values": {nested}}}\n'
    return nested + "\n"


def _rounded(value: Any, digits: int, tokens: dict[str, str], quote: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        token = tokens[repr(value)]
        return f'"{token}"' if quote else token
    return f"{value:.{digits}g}"
