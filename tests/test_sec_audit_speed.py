"""The config and schema audits are linear and cheap on adversarial documents (issue #12).

A metadata document may be up to 32 MiB (exporter/archive.py metadata_limit). Python's json
turns `{},` into a dict every 3 bytes (11 million objects); the audits used to build a
(value, location) tuple per node and the Keras one a label string per dict, and took 46 s on
28 MiB. Now both walk a stack of iterators and build strings only for findings.

Fast tests: the findings on real and hostile configs/schemas are exactly those of a plain
recursive reference walk (the audit's specification). Slow tests: 32 MiB adversarial
documents (empty dicts, small lists, wide dicts, nesting as deep as json allows, strings and keys
that look suspicious) are audited in well under 10 s each on this shared machine.
"""

from __future__ import annotations

import json
import time
import zipfile
from typing import Any

import hostile_corpus as hc
import hostile_keras as hk
import hostile_skops as hs
import pytest

from exporter.core.errors import InputError
from exporter.models.keras import config as kc
from exporter.models.sklearn import trust as st

SIZE = 32 << 20  # exporter.files.archive.MAX_METADATA_BYTES
LIMIT_SECONDS = 10.0

# ---------------------------------------------------------------- reference walks


def _reference_hazards(config: Any) -> kc.Hazards:
    """The Keras audit as a plain recursive walk, building every label eagerly."""
    found = kc.Hazards()

    def label(item: dict, where: str) -> str:
        inner = item.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
        cls = item.get("class_name")
        if isinstance(name, str) and isinstance(cls, str) and not cls.startswith("__"):
            return f"layer {name!r} ({cls})"
        return where

    def visit(item: Any, where: str) -> None:
        if isinstance(item, str) and kc.is_marshalled_code(item):
            found.code.append(f"{where}: marshalled bytecode")
        elif isinstance(item, list):
            for value in item:
                visit(value, where)
        elif isinstance(item, dict):
            here = label(item, where)
            kc._object_hazards(item, kc._Label(None, here), found)
            for value in item.values():
                visit(value, here)

    visit(config, "the model")
    return found.sort()


def _reference_schema(schema: Any) -> tuple[set[str], set[str]]:
    """The skops audit as a plain recursive walk."""
    accepted: set[str] = set()
    refused: set[str] = set()

    def visit(item: Any) -> None:
        if isinstance(item, list):
            for value in item:
                visit(value)
        elif isinstance(item, dict):
            if "__loader__" in item:
                for name, ok in st._node_names(item, st.TRUSTED()):
                    (accepted if ok else refused).add(name)
            for value in item.values():
                visit(value)

    visit(schema)
    return accepted, refused


# ---------------------------------------------------------------- same findings as before


def _configs(tmp_path) -> list[dict]:
    marker = tmp_path / "payload_ran"
    lookup = {"module": "keras.layers", "class_name": "StringLookup",
              "config": {"name": "lookup", "vocabulary": "/etc/passwd"}}  # fmt: skip
    layers = [
        [hk.residual_wrapper_layer(marker)],
        [hk.blob_layer(marker)],
        [hk.function_activation("os", "system")],
        [hk.function_activation("builtins", "eval")],
        [hk.function_activation("builtins", "gelu")],
        [hk.function_activation("evilpkg.losses", "f")],
        [lookup, {"class_name": "Lambda", "config": {"name": "lam", "function": "x"}}],
        [{"module": "subprocess", "class_name": "Popen", "registered_name": "os>system",
          "config": {"name": "p", "cell": {"class_name": "__lambda__", "config": {}}}}],
        [{"module": "builtins", "class_name": {"odd": 1}, "config": {"name": "odd"}}],
    ]  # fmt: skip
    configs = [hc.dense_config()] + [hc.dense_config(extra_layers=extra) for extra in layers]
    wrapped = {"class_name": "TimeDistributed", "config": {"name": "td", "layer": configs[3]}}
    return [*configs, hc.dense_config(extra_layers=[wrapped, lookup])]


def test_keras_findings_match_the_reference_walk(tmp_path):
    configs = _configs(tmp_path)
    for config in configs:
        assert kc.config_hazards(config) == _reference_hazards(config), config
    found = kc.config_hazards(configs[-1])
    assert found.foreign == ["layer 'act' (Dense): function os.system"]
    assert found.files == ["layer 'lookup' (StringLookup): vocabulary '/etc/passwd'"]


def _schemas(tmp_path) -> list[Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    x, y = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]] * 5, [0, 1, 0, 1] * 5
    models = [
        RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        HistGradientBoostingClassifier(max_iter=3).fit(x, y),
        make_pipeline(StandardScaler(), FunctionTransformer(func=len)).fit(x, y),
    ]
    paths = [hc.skops_file(tmp_path / f"m{i}.skops", model) for i, model in enumerate(models)]
    for name, _, _ in hs.GADGETS:
        folder = tmp_path / name
        folder.mkdir()
        paths.append(hs.build_gadget(name)(folder))
    return [json.loads(zipfile.ZipFile(path).read("schema.json")) for path in paths]


def test_skops_findings_match_the_reference_walk(tmp_path):
    schemas = _schemas(tmp_path)
    for schema in schemas:
        assert st.audit_schema(schema) == _reference_schema(schema)
    assert not st.audit_schema(schemas[0])[1]  # a sound forest passes
    assert "builtins.len" in st.audit_schema(schemas[2])[1]
    assert sum(bool(st.audit_schema(schema)[1]) for schema in schemas[3:]) == len(schemas) - 3


def test_a_config_nested_past_json_depth_is_an_input_error():
    text = '{"class_name": "Sequential", "config": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InputError, match=r"m\.keras.*not valid JSON"):
        kc.parse_json(text, "m.keras")


# ---------------------------------------------------------------- 32 MiB adversarial documents


def _repeat(unit: str, open_: str = "[", close: str = "]", size: int = SIZE) -> str:
    """open_ + unit, unit, ... + close, about size bytes."""
    count = max(1, (size - 2) // (len(unit) + 1))
    return open_ + ",".join([unit] * count) + close


def _wide(size: int = SIZE) -> str:
    count = (size - 2) // 12
    return "{" + ",".join(f'"{i:07x}":0' for i in range(count)) + "}"


def _deep(depth: int = 800) -> str:  # as deep as json parses under pytest
    unit = "[" * depth + "]" * depth
    return _repeat(unit)


DOCUMENTS = {
    "empty-dicts": lambda: _repeat("{}"),
    "small-lists": lambda: _repeat("[0]"),
    "empty-lists": lambda: _repeat("[]"),
    "wide-dict": _wide,
    "deep-lists": _deep,
    "deep-dicts": lambda: _repeat('{"a":' * 490 + "0" + "}" * 490),
    "layer-dicts": lambda: _repeat('{"class_name":"D","config":{"name":"n"}}'),
    "path-keys": lambda: _repeat('{"a_file":"x"}'),
    "code-like-strings": lambda: _repeat('"YYYYYYYYYYYYYYYYYYYYYYYYYY"'),
    "loader-nodes": lambda: _repeat('{"__loader__":"TypeNode","__module__":"m","__class__":"c"}'),
    "bad-loader-nodes": lambda: _repeat('{"__loader__":0}'),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_audits_of_a_32_mib_adversarial_document_take_seconds(kind):
    text = DOCUMENTS[kind]()
    assert SIZE - (SIZE >> 6) <= len(text) <= SIZE
    document = json.loads(text)
    del text
    st.TRUSTED()  # built once per process, not part of the walk
    for audit in (kc.config_hazards, st.audit_schema):
        start = time.perf_counter()
        audit(document)
        elapsed = time.perf_counter() - start
        assert elapsed < LIMIT_SECONDS, f"{audit.__name__} took {elapsed:.1f} s on {kind}"
