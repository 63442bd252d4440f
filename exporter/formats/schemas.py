"""JSON Schemas shipped inside the package (exporter/schemas), looked up by name, validators cached."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from exporter.core.errors import InputError

MANIFEST = "manifest-1.schema.json"
JSON_EXPORT = "json-export-1.schema.json"


def schema_names() -> list[str]:
    """Every schema file shipped with the package."""
    folder = resources.files("exporter.formats") / "schemas"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".schema.json"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema document called name."""
    return json.loads((resources.files("exporter.formats") / "schemas" / name).read_text("utf-8"))


@cache
def _validator(name: str):
    # jsonschema-rs (Rust): 10 ms to import and 0.2 ms to check a 320-tensor manifest, against
    # 70 ms and 23 ms for the jsonschema package; the tests check the two agree.
    import jsonschema_rs

    documents = [(n, load_schema(n)) for n in schema_names()]
    registry = jsonschema_rs.Registry(
        [(n, schema) for n, schema in documents]
        + [(schema["$id"], schema) for n, schema in documents]
    )
    return jsonschema_rs.validator_for(load_schema(name), registry=registry, validate_formats=True)


def schema_errors(document: Any, name: str) -> list[str]:
    """Every violation of schema name by document, as 'path: message' strings."""
    errors = sorted(
        ((list(e.instance_path), e.message) for e in _validator(name).iter_errors(document)),
        key=lambda error: [(isinstance(part, str), part) for part in error[0]],  # 2 before 10
    )
    return [f"{'/'.join(map(str, path)) or '<root>'}: {message}" for path, message in errors]


def check(document: Any, name: str, what: str) -> None:
    """Raise InputError naming what and the first violations when document breaks schema name."""
    errors = schema_errors(document, name)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InputError(f"{what} does not match {name}: {'; '.join(errors[:3])}{more}")
