"""The shipped JSON Schemas: valid draft 2020-12 documents, inside the package, cross-referencing."""

from __future__ import annotations

from importlib import resources

import jsonschema
import pytest

from exporter.formats import schemas


def test_every_schema_is_shipped_inside_the_package():
    names = schemas.schema_names()
    assert {"manifest-1.schema.json", "json-export-1.schema.json", "spec-1.schema.json",
            "store-index-1.schema.json", "conversion-report-1.schema.json"} <= set(names)  # fmt: skip
    folder = resources.files("exporter.formats") / "schemas"
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


def _reference_error_paths(document, name):
    """The error locations the reference implementation (the jsonschema package) reports."""
    from referencing import Registry, Resource

    documents = [(n, schemas.load_schema(n)) for n in schemas.schema_names()]
    registry = Registry().with_resources(
        [(n, Resource.from_contents(s)) for n, s in documents]
        + [(s["$id"], Resource.from_contents(s)) for n, s in documents]
    )
    cls = jsonschema.Draft202012Validator
    validator = cls(schemas.load_schema(name), registry=registry, format_checker=cls.FORMAT_CHECKER)
    return sorted(
        "/".join(map(str, e.absolute_path)) or "<root>" for e in validator.iter_errors(document)
    )


def _manifest_variants(tmp_path):
    import copy

    import numpy as np

    import exporter

    ws = exporter.WeightSet(info=exporter.ModelInfo(kind="test", model_name="m"))
    ws.add(exporter.Tensor.from_array("dense/kernel", np.ones((2, 3), np.float32), trainable=True))
    ws.add(exporter.Tensor.from_array("dense/bias", np.zeros(3, np.float16)))
    good = exporter.export(ws, tmp_path / "w.npz")

    def variant(change):
        doc = copy.deepcopy(good)
        change(doc)
        return doc

    return [
        good,
        variant(lambda d: d.pop("totals")),
        variant(lambda d: d.update(format="exporter.other")),
        variant(lambda d: d.update(created_at="yesterday")),
        variant(lambda d: d.update(surprise=1)),
        variant(lambda d: d["tensors"][0].update(dtype="float128")),
        variant(lambda d: d["tensors"][1].update(shape=[-1])),
        variant(lambda d: d["tensors"][1].update(shape="3")),
        variant(lambda d: d["tensors"][0].pop("sha256")),
        variant(lambda d: d["tensors"][0].update(sha256="not hex")),
        variant(lambda d: d["totals"].update(parameters=-1)),
        variant(lambda d: d["tensors"].append(7)),
        [],
        "manifest",
    ]


def test_validator_agrees_with_the_reference_implementation(tmp_path):
    # the reference checks "date-time" only when rfc3339-validator is installed; ours always does
    checks_dates = "date-time" in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    for document in _manifest_variants(tmp_path):
        wrapped = {"format": "exporter.weights-json", "format_version": "1.0.0",
                   "manifest": document, "data": {"dense/kernel": [[1.0, 2.0, 3.0]] * 2}}  # fmt: skip
        for doc, name, dated in ((document, schemas.MANIFEST, "created_at"),
                                 (wrapped, schemas.JSON_EXPORT, "manifest/created_at")):  # fmt: skip
            ours = schemas.schema_errors(doc, name)
            paths = sorted(e.split(": ", 1)[0] for e in ours)
            if not checks_dates and dated in paths:
                assert f'{dated}: "yesterday" is not a "date-time"' in ours
                paths.remove(dated)
            assert paths == _reference_error_paths(doc, name), (name, ours)


def test_errors_are_listed_in_document_order(tmp_path):
    document = _manifest_variants(tmp_path)[0]
    document["tensors"] = [dict(document["tensors"][0], dtype="float128") for _ in range(12)]
    paths = [e.split(": ", 1)[0] for e in schemas.schema_errors(document, schemas.MANIFEST)]
    assert paths == [f"tensors/{i}/dtype" for i in range(12)]  # 2 before 10
