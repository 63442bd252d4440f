"""JSON Schemas shipped inside the package (exporter/schemas), looked up by name, validators cached."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from .errors import InputError

MANIFEST = "manifest-1.schema.json"
JSON_EXPORT = "json-export-1.schema.json"


def schema_names() -> list[str]:
    """Every schema file shipped with the package."""
    folder = resources.files("exporter") / "schemas"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".schema.json"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema document called name."""
    return json.loads((resources.files("exporter") / "schemas" / name).read_text("utf-8"))


@cache
def _validator(name: str):
    import jsonschema
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (n, Resource.from_contents(load_schema(n))) for n in schema_names()
    )
    registry = registry.with_resources(
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in schema_names()
    )
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def schema_errors(document: Any, name: str) -> list[str]:
    """Every violation of schema name by document, as 'path: message' strings."""
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def check(document: Any, name: str, what: str) -> None:
    """Raise InputError naming what and the first violations when document breaks schema name."""
    errors = schema_errors(document, name)
    if errors:
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InputError(f"{what} does not match {name}: {'; '.join(errors[:3])}{more}")
