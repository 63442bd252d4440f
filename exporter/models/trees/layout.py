"""The canonical layout of a tree ensemble, shared by the XGBoost and LightGBM readers.

Every tree's nodes are concatenated into one array per field; `trees/tree_offsets` [T+1] says
where tree t's nodes are (`tree_offsets[t]:tree_offsets[t+1]`). Within a tree, node 0 is the
root and child indices are local to the tree, as in scikit-learn's `tree_` arrays:

- `trees/feature` int32 [N]: the split feature; -2 at leaves (sklearn's TREE_UNDEFINED).
- `trees/threshold` [N]: the split value in the library's own dtype (XGBoost float32,
  LightGBM float64, never rounded); -2 at leaves. Which comparison sends a row left is in the
  source info, `split_rule` ("x < threshold" for XGBoost, "x <= threshold" for LightGBM).
- `trees/children_left`, `trees/children_right` int32 [N]: -1 at leaves (TREE_LEAF).
- `trees/default_left` bool [N]: where a missing value (NaN) goes.
- `trees/value` [N]: the leaf value at leaves (learning rate already applied by the library);
  at inner nodes the value the library stores for the node (XGBoost base_weights, LightGBM
  internal_value), not used to predict.
- `trees/tree_class` int32 [T]: the output (class) each tree adds to.

Only when the model has them:

- categorical splits: `trees/is_categorical` bool [N], `trees/category_offsets` int64 [N+1] and
  `trees/categories` int32 [C]: node i's category set is
  `categories[category_offsets[i]:category_offsets[i+1]]` (global positions, sorted). Which side
  the listed categories go is the library's rule, in the source info (`category_rule`).
- LightGBM linear leaves: `trees/leaf_const` float64 [N], `trees/linear_offsets` int64 [N+1] into
  `trees/linear_features` int32 and `trees/linear_coeff` float64 (source info `linear_rule`).
- library-specific node fields, such as LightGBM's `trees/missing_type` uint8 [N].

One array per field rather than one tensor per tree and field: 1,000 trees stay 8 tensors,
read and written in one piece each, and a node walk is plain indexing.

Checks before anything is built: child indices inside the tree's node array, both or neither
child set, every node reached from the root exactly once (no cycles, no shared or stray nodes),
split features below the model's feature count; each refusal names the tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporter.core.errors import InputError
from exporter.core.weightset import Tensor

MAX_NODES = 1 << 28  # nodes in one model, all trees together
MAX_CATEGORY = (1 << 31) - 1
LEAF = -1
UNDEFINED = -2


@dataclass
class Tree:
    """One tree in canonical form (local child indices, -1 children at leaves)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray
    value: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # per-node, library-specific
    categories: dict[int, np.ndarray] = field(default_factory=dict)  # split node -> its set
    linear: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # leaf -> terms


def check_tree(tree: Tree, where: str, num_feature: int) -> None:
    """Refuse a tree whose nodes do not form one tree rooted at node 0."""
    n = len(tree.left)
    if n == 0:
        raise InputError(f"{where}: has no nodes")
    left, right = tree.left, tree.right
    leaf = left == LEAF
    if not np.array_equal(leaf, right == LEAF):
        node = int(np.flatnonzero(leaf != (right == LEAF))[0])
        raise InputError(f"{where}: node {node} has one child only")
    inner = ~leaf
    for side, children in (("left", left), ("right", right)):
        bad = inner & ((children < 0) | (children >= n))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{where}: node {node}'s {side} child {int(children[node])} is outside the "
                f"tree's {n} nodes"
            )
    _check_reached_once(left, right, inner, where)
    features = tree.feature[inner]
    bad = (features < 0) | (features >= num_feature)
    if bad.any():
        node = int(np.flatnonzero(inner)[np.flatnonzero(bad)[0]])
        raise InputError(
            f"{where}: node {node} splits on feature {int(tree.feature[node])}, but the model "
            f"has {num_feature} features"
        )


def _check_reached_once(left: np.ndarray, right: np.ndarray, inner: np.ndarray, where: str) -> None:
    """Every node but the root is the child of exactly one node, and all are reached from it."""
    n = len(left)
    edges = np.concatenate([left[inner], right[inner]]).astype(np.int64)
    parents = np.bincount(edges, minlength=n)
    if parents[0]:
        raise InputError(f"{where}: the root is a child of another node (a cycle)")
    twice = np.flatnonzero(parents > 1)
    if twice.size:
        raise InputError(f"{where}: node {int(twice[0])} has several parents (a cycle or a graph)")
    # Now each node has at most one parent and the root none, so the walk from the root visits
    # each node once and ends; a node it misses is stray or on a cycle apart from the root.
    reached = np.zeros(n, bool)
    frontier = np.zeros(1, np.int64)
    while frontier.size:
        reached[frontier] = True
        frontier = frontier[inner[frontier]]
        frontier = np.concatenate([left[frontier], right[frontier]]).astype(np.int64)
    if not reached.all():
        node = int(np.flatnonzero(~reached)[0])
        raise InputError(
            f"{where}: node {node} is not reached from the root (a cycle or a stray node)"
        )


class Forest:
    """Trees checked one by one as they are added, then concatenated into the tensors."""

    def __init__(self, where: str, num_feature: int, threshold_dtype: type, value_dtype: type):
        self.where, self.num_feature = where, num_feature
        self.threshold_dtype, self.value_dtype = threshold_dtype, value_dtype
        self.trees: list[Tree] = []
        self.tree_class: list[int] = []
        self.nodes = 0

    def add(self, tree: Tree, output: int) -> None:
        label = f"{self.where}: tree {len(self.trees)}"
        self.nodes += len(tree.left)
        if self.nodes > MAX_NODES:
            raise InputError(f"{label}: more than {MAX_NODES:,} nodes in the model; refused")
        check_tree(tree, label, self.num_feature)
        check_categories(tree, label)
        self.trees.append(tree)
        self.tree_class.append(output)

    def tensors(self, prefix: str = "trees") -> list[Tensor]:
        if not self.trees:
            raise InputError(f"{self.where}: the model has no trees")
        sizes = [len(tree.left) for tree in self.trees]
        offsets = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])

        def joined(get, dtype) -> np.ndarray:
            return np.concatenate([get(tree) for tree in self.trees]).astype(dtype, copy=False)

        fields = {
            "tree_offsets": offsets,
            "feature": joined(lambda t: t.feature, np.int32),
            "threshold": joined(lambda t: t.threshold, self.threshold_dtype),
            "children_left": joined(lambda t: t.left, np.int32),
            "children_right": joined(lambda t: t.right, np.int32),
            "default_left": joined(lambda t: t.default_left, np.bool_),
            "value": joined(lambda t: t.value, self.value_dtype),
        }
        for key in {key: None for tree in self.trees for key in tree.extra}:
            fields[key] = joined(
                lambda t, key=key: t.extra.get(key, np.zeros(len(t.left))), self._extra_dtype(key)
            )
        if any(tree.categories for tree in self.trees):
            fields.update(self._categories(offsets))
        if any(tree.linear for tree in self.trees):
            fields.update(self._linear(offsets))
        fields["tree_class"] = np.asarray(self.tree_class, np.int32)
        return [Tensor.from_array(f"{prefix}/{key}", array) for key, array in fields.items()]

    def _extra_dtype(self, key: str) -> np.dtype:
        return next(tree.extra[key].dtype for tree in self.trees if key in tree.extra)

    def _categories(self, offsets: np.ndarray) -> dict[str, np.ndarray]:
        """is_categorical [N], category_offsets [N+1] (node i's set is
        categories[category_offsets[i]:category_offsets[i+1]]) and categories [C]."""
        flags = np.zeros(int(offsets[-1]), np.bool_)
        for start, tree in zip(offsets[:-1].tolist(), self.trees, strict=True):
            flags[[start + node for node in tree.categories]] = True
        starts, (values,) = _ragged(offsets, [tree.categories for tree in self.trees], np.int32)
        return {"is_categorical": flags, "category_offsets": starts, "categories": values}

    def _linear(self, offsets: np.ndarray) -> dict[str, np.ndarray]:
        """linear_offsets [N+1]: leaf i's terms are linear_features/linear_coeff
        [linear_offsets[i]:linear_offsets[i+1]]."""
        per_tree = [tree.linear for tree in self.trees]
        starts, (features, coeff) = _ragged(offsets, per_tree, np.int32, self.value_dtype)
        return {"linear_offsets": starts, "linear_features": features, "linear_coeff": coeff}


def _ragged(offsets: np.ndarray, per_tree: list[dict], *dtypes: Any) -> tuple[np.ndarray, list]:
    """Per-node lists (node -> one array, or a tuple of parallel arrays) as offsets [N+1] into
    concatenated values, one array per dtype."""
    sizes = np.zeros(int(offsets[-1]), np.int64)
    columns: list[list[np.ndarray]] = [[] for _ in dtypes]
    for start, lists in zip(offsets[:-1].tolist(), per_tree, strict=True):
        for node in sorted(lists):
            parts = lists[node] if isinstance(lists[node], tuple) else (lists[node],)
            sizes[start + node] = len(parts[0])
            for column, part in zip(columns, parts, strict=True):
                column.append(part)
    starts = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    joined = [
        np.concatenate(column).astype(dtype) if column else np.zeros(0, dtype)
        for column, dtype in zip(columns, dtypes, strict=True)
    ]
    return starts, joined


def check_categories(tree: Tree, where: str, limit: int = MAX_CATEGORY) -> None:
    """Categorical splits only at split nodes, sets of non-negative category numbers."""
    leaf = tree.left == LEAF
    for node, values in tree.categories.items():
        if not 0 <= node < len(leaf) or leaf[node]:
            raise InputError(f"{where}: a categorical split at node {node}, which is no split")
        if values.size and (values.min() < 0 or values.max() > limit):
            raise InputError(f"{where}: node {node} lists categories outside [0, {limit}]")


def canonical(
    feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
    default_left: np.ndarray, value: np.ndarray, leaf_value: np.ndarray,
) -> Tree:  # fmt: skip
    """A Tree from arrays where leaves have left == -1 (check_tree refuses a node with one
    child): features/thresholds of leaves set to -2, values of leaves to leaf_value."""
    leaf = left == LEAF
    return Tree(
        feature=np.where(leaf, UNDEFINED, feature),
        threshold=np.where(leaf, threshold.dtype.type(UNDEFINED), threshold),
        left=left,
        right=right,
        default_left=default_left & ~leaf,
        value=np.where(leaf, leaf_value, value),
    )
