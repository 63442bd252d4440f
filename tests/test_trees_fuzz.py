"""Fuzz for the tree readers (hypothesis): mutated XGBoost JSON / LightGBM text seeds, and
random child arrays, give a sound WeightSet or one ExporterError line, never another exception
or a hang; whatever is accepted is a tree (every node reached from the root exactly once)."""

from __future__ import annotations

import json

import hostile_trees as ht
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import alarm, mutate, mutations

import exporter
from exporter.core.errors import ExporterError

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


def _seed(kind: str) -> tuple[str, bytes]:
    if kind == "xgb":
        return "model.json", json.dumps(ht.xgb_document()).encode()
    if kind == "ubj":
        return "model.ubj", ht.ubj(ht.xgb_document())
    return "model.txt", ht.lgb_text().encode()


def _load(path) -> exporter.WeightSet | None:
    try:
        ws = exporter.load(path)
        for tensor in ws:
            tensor.read()
        return ws
    except ExporterError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return None


@pytest.mark.parametrize("kind", ["xgb", "lgb", "ubj"])
def test_seeds_read(kind, tmp_path):
    name, data = _seed(kind)
    (tmp_path / name).write_bytes(data)
    ws = exporter.load(tmp_path / name)
    assert ws["trees/children_left"].read().tolist() == [1, -1, -1]


@pytest.mark.parametrize("kind", ["xgb", "lgb", "ubj"])
def test_mutated_tree_files(kind, tmp_path):
    name, data = _seed(kind)

    @SETTINGS
    @given(ops=mutations(len(data)))
    def check(ops) -> None:
        path = tmp_path / name
        path.write_bytes(mutate(data, ops))
        with alarm(10):
            _load(path)

    check()


def _reached_once(left: np.ndarray, right: np.ndarray) -> bool:
    seen, stack = set(), [0]
    while stack:
        node = stack.pop()
        if node in seen:
            return False
        seen.add(node)
        if left[node] != -1:
            stack += [int(left[node]), int(right[node])]
    return len(seen) == len(left)


@SETTINGS
@given(
    n=st.integers(1, 9),
    data=st.data(),
)
def test_random_child_arrays(tmp_path_factory, n, data):
    """Random children: the reader accepts exactly the arrays that form one tree."""
    child = st.integers(-2, n)
    left = data.draw(st.lists(child, min_size=n, max_size=n))
    right = data.draw(st.lists(child, min_size=n, max_size=n))
    path = tmp_path_factory.mktemp("random") / "model.json"
    path.write_text(json.dumps(ht.xgb_document(**ht._nodes(n, left, right))))
    ws = _load(path)
    sound = (
        all((a == -1) == (b == -1) for a, b in zip(left, right, strict=True))
        and all(-1 <= c < n for c in left + right)
        and _reached_once(np.array(left), np.array(right))
    )
    assert (ws is not None) == sound, (left, right)


def test_hand_written_ubjson_reads_like_json(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps(ht.xgb_document()))
    (tmp_path / "m.ubj").write_bytes(ht.ubj(ht.xgb_document()))
    one, other = exporter.load(tmp_path / "m.json"), exporter.load(tmp_path / "m.ubj")
    assert one.names() == other.names()
    for name in one.names():
        np.testing.assert_array_equal(one[name].read(), other[name].read())


def test_detection_keeps_kinds_apart(tmp_path):
    """An XGBoost .json is not taken for a JSON export, nor a JSON export of its trees for
    XGBoost; a LightGBM model saved under another name is still recognised by content."""
    (tmp_path / "m.json").write_text(json.dumps(ht.xgb_document()))
    (tmp_path / "model.data").write_text(ht.lgb_text())
    assert exporter.load(tmp_path / "m.json").info.kind == "xgboost-json"
    assert exporter.load(tmp_path / "model.data").info.kind == "lightgbm-text"
    exporter.export(tmp_path / "m.json", tmp_path / "export.json", format="json")
    back = exporter.load(tmp_path / "export.json")
    assert back.info.kind == "json" and "trees/threshold" in back
