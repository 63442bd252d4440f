"""Boosted-tree files found by a red-team pass: exit 4 on a wrong type, and allocations the file
never paid for (a huge num_class repeated, category sets copied once per split)."""

from __future__ import annotations

from hostile_corpus import Case
from hostile_trees import lgb_file, lgb_text, xgb_document, xgb_file


def _objective_list() -> dict:
    document = xgb_document()
    document["learner"]["objective"]["name"] = ["binary:logistic"]
    return document


def _huge_num_class() -> dict:
    document = xgb_document()
    param = document["learner"]["learner_model_param"]
    param["num_class"], param["base_score"] = "2147483647", "0.5"
    return document


def _shared_category_segments(splits: int = 20, categories: int = 1000) -> dict:
    """Every categorical split points at the same segment: XGBoost writes them one after another."""
    n = 2 * splits + 1
    left = [i + 1 if i + 1 < splits else 2 * splits for i in range(splits)] + [-1] * (splits + 1)
    right = [splits + i for i in range(splits)] + [-1] * (splits + 1)
    document = xgb_document(
        left_children=left, right_children=right, base_weights=[0.0] * n, default_left=[0] * n,
        split_conditions=[0.5] * n, split_indices=[0] * n,
        split_type=[1] * splits + [0] * (splits + 1), categories_nodes=list(range(splits)),
        categories_segments=[0] * splits, categories_sizes=[categories] * splits,
        categories=list(range(categories)),
    )  # fmt: skip
    document["learner"]["gradient_booster"]["model"]["trees"][0]["tree_param"]["num_nodes"] = str(n)
    return document


def _shared_lightgbm_set(splits: int = 3, words: int = 4) -> str:
    """Categorical splits in a chain, all naming category set 0."""
    leaves = splits + 1
    left = [i + 1 if i + 1 < splits else -1 for i in range(splits)]
    right = [~(i + 1) for i in range(splits)]
    ones = lambda k, v: " ".join([v] * k)  # noqa: E731
    return lgb_text(
        num_leaves=leaves, num_cat=1, split_feature=ones(splits, "0"), split_gain=ones(splits, "1"),
        threshold=ones(splits, "0"), decision_type=ones(splits, "1"),
        left_child=" ".join(map(str, left)), right_child=" ".join(map(str, right)),
        leaf_value=ones(leaves, "0.1"), leaf_weight=ones(leaves, "1"), leaf_count=ones(leaves, "1"),
        internal_value=ones(splits, "0"), internal_weight=ones(splits, "1"),
        internal_count=ones(splits, "1"), cat_boundaries=f"0 {words}",
        cat_threshold=ones(words, "4294967295"), is_linear=0, shrinkage=1,
    )  # fmt: skip


CASES: list[Case] = [
    Case("xgb-objective-not-a-string", xgb_file(_objective_list), 3, "objective"),
    Case("xgb-num-class-huge", xgb_file(_huge_num_class), 3, "num_class"),
    Case("xgb-category-segments-shared", xgb_file(_shared_category_segments), 3, "overlap"),
    Case("lgb-category-set-shared", lgb_file(_shared_lightgbm_set()), 3, "share"),
]
