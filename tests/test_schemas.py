"""The shipped JSON Schemas: valid draft 2020-12 documents, inside the package, cross-referencing."""

from __future__ import annotations

from importlib import resources

import jsonschema
import pytest

from exporter import schemas


def test_every_schema_is_shipped_inside_the_package():
    names = schemas.schema_names()
    assert {"manifest-1.schema.json", "json-export-1.schema.json", "spec-1.schema.json",
            "store-index-1.schema.json", "conversion-report-1.schema.json"} <= set(names)  # fmt: skip
    folder = resources.files("exporter") / "schemas"
    assert all((folder / n).is_file() for n in names)


@pytest.mark.parametrize("name", schemas.schema_names())
def test_schema_is_valid_draft_2020_12(name):
    schema = schemas.load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)  # not done at run time: it costs 0.2 s


def test_references_between_schemas_resolve():
    errors = schemas.schema_errors({"format": "exporter.spec", "format_version": "1.0.0",
                                    "tensors": [{"name": "a", "shape": [1], "dtype": "float128"}]},
                                   "spec-1.schema.json")  # fmt: skip
    assert errors and "float128" in errors[0]
