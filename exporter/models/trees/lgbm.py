"""LightGBM models saved as text (`Booster.save_model("m.txt")`), read as data.

Each tree becomes the canonical arrays (layout.py): LightGBM's split nodes keep their indices
(0 .. num_leaves-2) and leaf j becomes node num_leaves-1+j. Thresholds and leaf values stay
float64, as LightGBM writes them (17 significant digits, parsed exactly). Beside the shared
arrays, `trees/missing_type` uint8 [N] says how a split treats missing values (LightGBM's
decision_type bits 2-3): 0 none (NaN is taken as 0.0), 1 zero (0 or NaN goes to default_left),
2 nan (NaN goes to default_left).

The raw prediction (`raw_score=True`) of a row is the sum of value[leaf] over trees t with
tree_class[t] == k (t % num_tree_per_iteration), in float64 (in random forest mode, source
info `average_output`, LightGBM's predict() divides it by the number of iterations, but
raw_score=True gives the sum); a row goes left when x[feature] <= threshold. Shrinkage and
boost_from_average are already in the leaf values.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from exporter.core.errors import InputError
from exporter.core.weightset import ModelInfo, WeightSet
from exporter.files.inputs import InputFile, read_bounded
from exporter.models.trees.layout import LEAF, UNDEFINED, Forest, Tree
from exporter.readers import READERS, Probe, Reader, ReadOptions

MAX_MODEL_BYTES = 1 << 30  # a model file read whole (parsing takes ~8x its size in memory)
MAX_LEAVES = 1 << 24
_HEAD = re.compile(rb"tree\r?\nversion=v\d+\r?\n")
_CATEGORICAL, _DEFAULT_LEFT = 1, 2


def _is_lightgbm_text(probe: Probe) -> bool:
    if probe.is_dir or probe.members:
        return False
    return _HEAD.match(probe.head) is not None


def read_lightgbm_text(source: InputFile, options: ReadOptions) -> WeightSet:
    where = str(source)
    data = read_bounded(source.fd, MAX_MODEL_BYTES, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where}: not a LightGBM text model (bad UTF-8 at byte {exc.start})"
        ) from None
    return weightset_from_text(text, where, source)


def _blocks(text: str, where: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The header's key=value lines and each tree's, in order, up to `end of trees`."""
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    current = header
    for line in text.splitlines():
        if line == "end of trees":
            return header, trees
        key, sep, value = line.partition("=")
        if key == "Tree":
            if value != str(len(trees)):
                raise InputError(f"{where}: tree {len(trees)} is labelled Tree={value[:20]}")
            current = {}
            trees.append(current)
        elif sep:
            current[key] = value
        elif line.strip():
            current[line.strip()] = ""
    raise InputError(f"{where}: no 'end of trees' line; the file is truncated or not a model")


class Fields:
    """One block's key=value lines, read as numbers; refusals name the block."""

    def __init__(self, block: dict[str, str], where: str):
        self.block, self.where = block, where

    def integer(self, key: str, low: int = 0, high: int = 1 << 31) -> int:
        value = self.block.get(key)
        number = int(value) if value is not None and re.fullmatch(r"-?\d{1,12}", value) else None
        if number is None or not low <= number <= high:
            raise InputError(f"{self.where}: {key} is {value!r}, not a count in [{low}, {high}]")
        return number

    def array(self, key: str, size: int, dtype: Any) -> np.ndarray:
        value = self.block.get(key)
        parts = value.split(" ") if value else []
        if len(parts) != size:
            raise InputError(f"{self.where}: {key} holds {len(parts)} values, expected {size}")
        try:
            return np.asarray(parts, dtype)
        except (ValueError, OverflowError):
            raise InputError(f"{self.where}: {key} is not a list of numbers") from None


def weightset_from_text(text: str, where: str, source: InputFile | None = None) -> WeightSet:
    header_block, blocks = _blocks(text, where)
    header = Fields(header_block, where)
    num_feature = header.integer("max_feature_idx", 0, 1 << 30) + 1
    per_iteration = header.integer("num_tree_per_iteration", 1, 1 << 20)
    forest = Forest(where, num_feature, np.float64, np.float64)
    for index, block in enumerate(blocks):
        forest.add(
            _tree(Fields(block, f"{where}: tree {index}"), num_feature), index % per_iteration
        )
    info = _info(header_block, where, source, num_feature, per_iteration, len(blocks))
    return WeightSet(forest.tensors(), info)


def _tree(fields: Fields, num_feature: int) -> Tree:
    leaves = fields.integer("num_leaves", 1, MAX_LEAVES)
    leaf_value = fields.array("leaf_value", leaves, np.float64)
    tree = _splits(fields, leaves, leaf_value, num_feature)
    if fields.block.get("is_linear", "0") not in ("0", "1"):
        raise InputError(f"{fields.where}: is_linear is neither 0 nor 1")
    if fields.block.get("is_linear") == "1":
        _add_linear(fields, tree, leaves, num_feature)
    return tree


def _add_linear(fields: Fields, tree: Tree, leaves: int, num_feature: int) -> None:
    """Linear leaves: leaf_const per leaf (`trees/leaf_const`, 0 at splits) and each leaf's
    (feature, coefficient) terms; leaf_value stays what a row with a NaN term gets."""
    const = fields.array("leaf_const", leaves, np.float64)
    counts = fields.array("num_features", leaves, np.int64)
    if (counts < 0).any() or (counts > num_feature).any():
        raise InputError(f"{fields.where}: num_features holds counts outside [0, {num_feature}]")
    total = int(counts.sum())
    features = _tokens(fields, "leaf_features", total, np.int64)
    coeff = _tokens(fields, "leaf_coeff", total, np.float64)
    if total and (features.min() < 0 or features.max() >= num_feature):
        raise InputError(
            f"{fields.where}: leaf_features names a feature outside the model's {num_feature}"
        )
    first = leaves - 1
    ends = np.cumsum(counts)
    tree.linear = {
        first + j: (features[end - count : end], coeff[end - count : end])
        for j, (count, end) in enumerate(zip(counts.tolist(), ends.tolist(), strict=True))
    }
    tree.extra["leaf_const"] = np.concatenate([np.zeros(first), const])


def _tokens(fields: Fields, key: str, size: int, dtype: Any) -> np.ndarray:
    """A list written with one or two spaces between its items (LightGBM ends each leaf's
    list with a space), as size numbers."""
    text = fields.block.get(key, "")
    return Fields({key: " ".join(text.split())}, fields.where).array(key, size, dtype)


def _splits(fields: Fields, leaves: int, leaf_value: np.ndarray, num_feature: int) -> Tree:
    splits = leaves - 1
    if not splits:
        none, nothing = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return _tree_of(leaf_value, none, none, none, none, nothing, nothing)
    decision = fields.array("decision_type", splits, np.int64)
    if (decision < 0).any() or (decision > 15).any():
        raise InputError(f"{fields.where}: decision_type holds unknown split kinds")
    if ((decision >> 2) & 3 == 3).any():
        raise InputError(f"{fields.where}: decision_type holds an unknown missing type")
    internal = (
        fields.array("internal_value", splits, np.float64)
        if "internal_value" in fields.block
        else np.zeros(splits, np.float64)
    )
    children = [_nodes(fields, key, leaves) for key in ("left_child", "right_child")]
    threshold = fields.array("threshold", splits, np.float64)
    tree = _tree_of(
        leaf_value,
        fields.array("split_feature", splits, np.int64),
        *children,
        decision,
        threshold,
        internal,
    )
    tree.categories = _categories(fields, decision, threshold)
    return tree


def _categories(
    fields: Fields, decision: np.ndarray, threshold: np.ndarray
) -> dict[int, np.ndarray]:
    """node -> the categories that go left: the bitset cat_threshold[cat_boundaries[i] :
    cat_boundaries[i+1]] (32-bit words) of set i = the node's threshold, as numbers."""
    nodes = np.flatnonzero(decision & _CATEGORICAL)
    count = fields.integer("num_cat", 0, MAX_LEAVES)
    if not nodes.size and not count:
        return {}
    bounds = fields.array("cat_boundaries", count + 1, np.int64)
    words_text = fields.block.get("cat_threshold", "")
    words = fields.array(
        "cat_threshold", len(words_text.split(" ")) if words_text else 0, np.uint32
    )
    if bounds[0] != 0 or (np.diff(bounds) < 0).any() or bounds[-1] != len(words):
        raise InputError(f"{fields.where}: cat_boundaries do not divide cat_threshold")
    index = threshold[nodes]
    if ((index < 0) | (index >= count) | (index != np.floor(index))).any():
        raise InputError(f"{fields.where}: a categorical split names a set outside num_cat={count}")
    if np.unique(index).size != index.size:  # LightGBM gives every split its own set; a shared
        raise InputError(f"{fields.where}: two categorical splits share one category set")
    found = {}
    for node, i in zip(nodes.tolist(), index.astype(np.int64).tolist(), strict=True):
        bits = np.unpackbits(
            words[bounds[i] : bounds[i + 1]].astype("<u4").view(np.uint8), bitorder="little"
        )
        found[node] = np.flatnonzero(bits).astype(np.int64)
    return found


def _nodes(fields: Fields, key: str, leaves: int) -> np.ndarray:
    """A child array in canonical node numbers: split c stays c, leaf ~c becomes leaves-1+~c."""
    child = fields.array(key, leaves - 1, np.int64)
    bad = (child >= leaves - 1) | (~child >= leaves)
    if bad.any():
        node = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{fields.where}: node {node}'s {key} {int(child[node])} is outside the tree's "
            f"{leaves - 1} splits and {leaves} leaves"
        )
    return np.where(child >= 0, child, leaves - 1 + ~child)


def _tree_of(leaf_value, feature, left, right, decision, threshold, internal) -> Tree:
    leaves = len(leaf_value)
    pad = np.full(leaves, LEAF, np.int64)
    return Tree(
        feature=np.concatenate([feature, np.full(leaves, UNDEFINED, np.int64)]),
        threshold=np.concatenate([threshold, np.full(leaves, UNDEFINED, np.float64)]),
        left=np.concatenate([left, pad]),
        right=np.concatenate([right, pad]),
        default_left=np.concatenate([(decision & _DEFAULT_LEFT) != 0, np.zeros(leaves, bool)]),
        value=np.concatenate([internal, leaf_value]),
        extra={"missing_type": np.concatenate([(decision >> 2) & 3, pad * 0]).astype(np.uint8)},
    )


def _info(header: dict[str, str], where: str, source: InputFile | None, num_feature: int,
          per_iteration: int, trees: int) -> ModelInfo:  # fmt: skip
    extra: dict[str, Any] = {
        "format_version": header.get("version"),
        "objective": header.get("objective"),
        "num_class": header.get("num_class"),
        "num_tree_per_iteration": per_iteration,
        "num_feature": num_feature,
        "num_trees": trees,
        "average_output": "average_output" in header,
        "linear_rule": "where linear_offsets exist, a leaf gives leaf_const + sum of "
        "linear_coeff * x[linear_features] (x in float64), or value when one of those x is NaN",
        "split_rule": "x <= threshold goes left; missing values by missing_type and default_left",
        "category_rule": "at is_categorical nodes the listed categories go left; other "
        "categories, negative values and missing values go right",
    }
    if header.get("feature_names"):
        extra["feature_names"] = header["feature_names"].split(" ")
    return ModelInfo(
        kind="lightgbm-text",
        framework="lightgbm",
        framework_version=None,  # the file says its format version only
        model_class="Booster",
        file=source.name if source is not None else where,
        digest=source.digest() if source is not None else None,
        extra=extra,
    )


READERS.register(
    "lightgbm-text",
    Reader(
        "lightgbm-text", _is_lightgbm_text, read_lightgbm_text, "LightGBM model (save_model .txt)"
    ),
)
