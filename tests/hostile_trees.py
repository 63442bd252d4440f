"""Hostile tree-ensemble models: XGBoost JSON and LightGBM text files, truncated or edited so
their trees point outside the node array, form cycles, split on features the model does not
have or declare absurd sizes. Written by hand (no xgboost/lightgbm needed), each a small edit of
a sound one-split model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hostile_corpus import Case


def xgb_document(**tree_edits) -> dict:
    """A sound XGBoost 3 JSON model: one tree, x0 < 0.5 -> leaf 1 else leaf 2; edits replace
    the tree's fields."""
    tree = {
        "base_weights": [0.0, -1.0, 1.0],
        "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
        "default_left": [1, 0, 0],
        "id": 0,
        "left_children": [1, -1, -1],
        "right_children": [2, -1, -1],
        "loss_changes": [1.0, 0.0, 0.0],
        "parents": [2147483647, 0, 0],
        "split_conditions": [0.5, -1.0, 1.0],
        "split_indices": [0, 0, 0],
        "split_type": [0, 0, 0],
        "sum_hessian": [2.0, 1.0, 1.0],
        "tree_param": {"num_deleted": "0", "num_feature": "3", "num_nodes": "3",
                       "size_leaf_vector": "1"},
    }  # fmt: skip
    tree.update(tree_edits)
    model = {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1"},
             "iteration_indptr": [0, 1], "tree_info": [0], "trees": [tree]}  # fmt: skip
    learner = {
        "attributes": {}, "feature_names": [], "feature_types": [],
        "gradient_booster": {"model": model, "name": "gbtree"},
        "learner_model_param": {"base_score": "[5E-1]", "boost_from_average": "1",
                                "num_class": "0", "num_feature": "3", "num_target": "1"},
        "objective": {"name": "reg:squarederror"},
    }  # fmt: skip
    return {"learner": learner, "version": [3, 2, 0]}


def _nodes(n: int, left: list[int], right: list[int]) -> dict:
    return {
        "left_children": left, "right_children": right,
        "base_weights": [0.0] * n, "default_left": [0] * n, "split_conditions": [0.5] * n,
        "split_indices": [0] * n, "split_type": [0] * n,
        "tree_param": {"num_deleted": "0", "num_feature": "3", "num_nodes": str(n),
                       "size_leaf_vector": "1"},
    }  # fmt: skip


def xgb_file(document: dict | Callable[[], dict], name: str = "model.json", cut: int = 0):
    def build(folder: Path) -> Path:
        text = json.dumps(document() if callable(document) else document)
        path = folder / name
        path.write_text(text[: len(text) // 2] if cut else text)
        return path

    return build


def ubj(value) -> bytes:
    """UBJSON as XGBoost writes it: int64 lengths, float lists as typed float32 arrays."""
    length = lambda n: b"L" + n.to_bytes(8, "big")  # noqa: E731
    if isinstance(value, dict):
        items = b"".join(length(len(k.encode())) + k.encode() + ubj(v) for k, v in value.items())
        return b"{" + items + b"}"
    if isinstance(value, str):
        return b"S" + length(len(value.encode())) + value.encode()
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"L" + value.to_bytes(8, "big", signed=True)
    if isinstance(value, float):
        return b"d" + np.float32(value).astype(">f4").tobytes()
    if value and all(isinstance(v, float) for v in value):
        return b"[$d#" + length(len(value)) + np.asarray(value, ">f4").tobytes()
    return b"[#" + length(len(value)) + b"".join(ubj(v) for v in value)


def ubj_file(data: bytes | Callable[[], bytes], name: str = "model.ubj"):
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data() if callable(data) else data)
        return path

    return build


def _ubj_huge_count() -> bytes:
    """A typed array declaring 2**60 float32 values right after the sound head."""
    data = ubj(xgb_document())
    at = data.index(b"base_weights") + len(b"base_weights")
    return data[:at] + b"[$d#L" + (1 << 60).to_bytes(8, "big") + b"\0" * 64


LGB_TREE = {
    "num_leaves": "2", "num_cat": "0", "split_feature": "0", "split_gain": "1",
    "threshold": "0.5", "decision_type": "2", "left_child": "-1", "right_child": "-2",
    "leaf_value": "-1 1", "leaf_weight": "1 1", "leaf_count": "1 1", "internal_value": "0",
    "internal_weight": "2", "internal_count": "2", "is_linear": "0", "shrinkage": "1",
}  # fmt: skip


def lgb_text(end: bool = True, **tree_edits) -> str:
    """A sound LightGBM v4 text model: one tree, x0 <= 0.5 -> leaf 0 else leaf 1."""
    tree = {**LGB_TREE, **tree_edits}
    lines = [
        "tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
        "max_feature_idx=2", "objective=regression", "feature_names=a b c",
        "feature_infos=[-1:1] [-1:1] [-1:1]", "tree_sizes=400", "", "Tree=0",
        *(f"{key}={value}" for key, value in tree.items()), "", "",
    ]  # fmt: skip
    if end:
        lines += ["end of trees", "", "feature_importances:", "a=1", ""]
    return "\n".join(lines)


def lgb_file(text: str, name: str = "model.txt"):
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_text(text)
        return path

    return build


def cb_document(**tree_edits) -> dict:
    """A sound CatBoost JSON model: one depth-1 oblivious tree on x0 > 0.5."""
    tree = {"leaf_values": [-1.0, 1.0], "leaf_weights": [1, 1],
            "splits": [{"border": 0.5, "float_feature_index": 0, "split_index": 0,
                        "split_type": "FloatFeature"}]}  # fmt: skip
    tree.update(tree_edits)
    feature = {"borders": [0.5], "feature_id": "", "feature_index": 0, "flat_feature_index": 0,
               "has_nans": False, "nan_value_treatment": "AsIs"}  # fmt: skip
    return {"features_info": {"float_features": [feature]}, "model_info": {},
            "oblivious_trees": [tree], "scale_and_bias": [1, [0.25]]}  # fmt: skip


def cb_file(document: dict):
    return xgb_file(lambda: document, name="catboost.json")


CHILD = r"child -?\d+ is outside the tree's \d+ (nodes|splits)"
CYCLE = r"(a cycle|several parents|not reached from the root)"
FEATURE = r"splits on feature \d+, but the model has 3 features"

CASES: list[Case] = [
    Case("xgb-json-truncated", xgb_file(xgb_document, cut=1), 3, r"not valid JSON"),
    Case("xgb-json-not-a-model", xgb_file({"learner": {}}), 3, r"no 'learner_model_param'"),
    Case("xgb-child-out-of-range", xgb_file(xgb_document(left_children=[7, -1, -1])), 3, CHILD),
    Case("xgb-child-negative", xgb_file(xgb_document(right_children=[-5, -1, -1])), 3, CHILD),
    Case("xgb-one-child", xgb_file(xgb_document(right_children=[-1, -1, -1])), 3, r"one child"),
    Case(
        "xgb-cycle-to-root", xgb_file(xgb_document(**_nodes(3, [1, -1, 0], [2, -1, 1]))), 3, CYCLE
    ),
    Case(
        "xgb-cycle-apart",
        xgb_file(xgb_document(**_nodes(7, [1, -1, -1, 4, 3, -1, -1], [2, -1, -1, 5, 6, -1, -1]))),
        3,
        r"node 3 is not reached from the root",
    ),
    Case("xgb-feature-out-of-range", xgb_file(xgb_document(split_indices=[9, 0, 0])), 3, FEATURE),
    Case(
        "xgb-node-count-lies",
        xgb_file(xgb_document(tree_param={"num_nodes": "99999999", "size_leaf_vector": "1"})),
        3,
        r"holds 3 values, expected 99999999",
    ),
    Case(
        "xgb-strings-for-children",
        xgb_file(xgb_document(left_children=["1", "-1", "-1"])),
        3,
        r"not a list of numbers",
    ),
    Case(
        "xgb-ubj-truncated", ubj_file(lambda: ubj(xgb_document())[:300]), 3, r"the file ends first"
    ),
    Case("xgb-ubj-huge-count", ubj_file(_ubj_huge_count), 3, r"more than the bytes left"),
    Case("xgb-ubj-trailing", ubj_file(lambda: ubj(xgb_document()) + b"{}"), 3, r"after the model"),
    Case(
        "xgb-ubj-child-out-of-range",
        ubj_file(lambda: ubj(xgb_document(left_children=[7, -1, -1]))),
        3,
        CHILD,
    ),
    Case(
        "xgb-ubj-cycle",
        ubj_file(lambda: ubj(xgb_document(**_nodes(3, [1, -1, 0], [2, -1, 1])))),
        3,
        CYCLE,
    ),
    Case("cb-json-truncated", xgb_file(cb_document, "catboost.json", cut=1), 3, r"not valid JSON"),
    Case(
        "cb-feature-out-of-range",
        cb_file(
            cb_document(
                splits=[{"border": 0.5, "float_feature_index": 4, "split_type": "FloatFeature"}]
            )
        ),
        3,
        r"float_feature_index is 4, not a count in \[0, 0\]",
    ),
    Case(
        "cb-leaf-values-short",
        cb_file(cb_document(leaf_values=[1.0])),
        3,
        r"leaf_values holds 1 values, expected 2",
    ),
    Case("cb-too-deep", cb_file(cb_document(splits=[{}] * 40)), 3, r"at most 16 splits"),
    Case(
        "cb-categorical-features",
        cb_file({**cb_document(), "features_info": {"categorical_features": [{"x": 1}]}}),
        3,
        r"categorical_features are not read",
    ),
    Case("lgb-text-truncated", lgb_file(lgb_text(end=False)), 3, r"no 'end of trees' line"),
    Case("lgb-child-out-of-range", lgb_file(lgb_text(left_child="-9")), 3, CHILD),
    Case("lgb-cycle-to-root", lgb_file(lgb_text(left_child="0")), 3, CYCLE),
    Case("lgb-feature-out-of-range", lgb_file(lgb_text(split_feature="3")), 3, FEATURE),
    Case(
        "lgb-absurd-leaf-count",
        lgb_file(lgb_text(num_leaves="99999999999")),
        3,
        r"num_leaves is '99999999999', not a count",
    ),
    Case(
        "lgb-short-leaf-values",
        lgb_file(lgb_text(leaf_value="1")),
        3,
        r"leaf_value holds 1 values, expected 2",
    ),
    Case("lgb-bad-number", lgb_file(lgb_text(threshold="0.5x")), 3, r"threshold is not a list"),
]
