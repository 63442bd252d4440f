"""CatBoost models saved as JSON (`save_model("m.json", format="json")`), read as data.

CatBoost's trees are oblivious (one split per level): a tree of depth D becomes a full binary
tree of 2^(D+1)-1 nodes in the canonical layout (layout.py), level by level, a row going left
when x[feature] <= threshold (CatBoost sends it right when x > border), thresholds float32 as
CatBoost stores borders. Missing values go where the feature's nan_value_treatment says
(`AsTrue`: right, otherwise left: NaN is never greater than a border). A model with D outputs
(multi-class) gives one canonical tree per output, `tree_class` saying which.

Model-level: `scale` float64 [] and `bias` float64 [outputs]; the raw prediction
(`prediction_type="RawFormulaVal"`) is `scale * (sum of the trees' leaf values) + bias`.
Categorical features (CTRs), text/embedding features and non-symmetric trees are refused with a
message. The binary `.cbm` is not read (save the model as JSON).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from exporter.core.weightset import ModelInfo, Tensor, WeightSet
from exporter.files.archive import parse_document
from exporter.files.inputs import InputFile, read_bounded
from exporter.models.trees.layout import LEAF, UNDEFINED, Forest, Tree
from exporter.models.trees.xgb import Doc
from exporter.readers import READERS, Probe, Reader, ReadOptions

MAX_MODEL_BYTES = 1 << 30
MAX_DEPTH = 16
_HEAD = re.compile(rb'\s*\{\s*"features_info"\s*:')


def _is_catboost_json(probe: Probe) -> bool:
    return not probe.members and _HEAD.match(probe.head) is not None


def read_catboost_json(source: InputFile, options: ReadOptions) -> WeightSet:
    where = str(source)
    document = parse_document(read_bounded(source.fd, MAX_MODEL_BYTES, where), where)
    doc = Doc(where)
    if not isinstance(document, dict):
        raise doc.fail("the model", "not a JSON object")
    features = doc.obj(document, "features_info", "the model")
    for kind in ("categorical_features", "text_features", "embedding_features"):
        if features.get(kind):
            raise doc.fail("features_info", f"{kind} are not read (only float features)")
    if "oblivious_trees" not in document:
        raise doc.fail("the model", "no oblivious_trees (non-symmetric trees are not read)")
    columns, default_left = _float_features(doc, features)
    scale, bias = _scale_and_bias(doc, document.get("scale_and_bias"))
    trees = document["oblivious_trees"]
    if not isinstance(trees, list):
        raise doc.fail("the model", "oblivious_trees is not a list")
    forest = Forest(where, max(columns, default=-1) + 1, np.float32, np.float64)
    for index, tree in enumerate(trees):
        for output, canonical in enumerate(
            _tree(doc, tree, f"tree {index}", columns, default_left, len(bias))
        ):
            forest.add(canonical, output)
    tensors = [Tensor.from_array("scale", np.float64(scale)), Tensor.from_array("bias", bias)]
    return WeightSet([*forest.tensors(), *tensors], _info(document, source, forest, len(bias)))


def _float_features(doc: Doc, features: dict) -> tuple[list[int], list[bool]]:
    """For each float feature: its input column, and whether NaN goes left."""
    found = features.get("float_features", [])
    if not isinstance(found, list):
        raise doc.fail("features_info", "float_features is not a list")
    columns, left = [], []
    for i, feature in enumerate(found):
        place = f"float feature {i}"
        if not isinstance(feature, dict):
            raise doc.fail(place, "not an object")
        columns.append(doc.integer(feature, "flat_feature_index", place, 0, 1 << 24))
        left.append(feature.get("nan_value_treatment") != "AsTrue")
    return columns, left


def _scale_and_bias(doc: Doc, value: Any) -> tuple[float, np.ndarray]:
    try:
        scale, bias = value
        bias = np.asarray(bias if isinstance(bias, list) else [bias], np.float64)
        scale = float(scale)
    except (TypeError, ValueError):
        raise doc.fail("scale_and_bias", f"{str(value)[:60]} is not [scale, [bias...]]") from None
    if bias.ndim != 1 or not bias.size:
        raise doc.fail("scale_and_bias", "no bias values")
    return scale, bias


def _tree(
    doc: Doc, tree: Any, place: str, columns: list[int], nan_left: list[bool], outputs: int
) -> list[Tree]:
    splits = tree.get("splits") if isinstance(tree, dict) else None
    if not isinstance(splits, list) or len(splits) > MAX_DEPTH:
        raise doc.fail(place, f"splits is not a list of at most {MAX_DEPTH} splits")
    features, borders = [], []
    for level, split in enumerate(splits):
        if not isinstance(split, dict) or split.get("split_type") != "FloatFeature":
            raise doc.fail(place, f"split {level} is not a float-feature split (CTRs are not read)")
        index = doc.integer(split, "float_feature_index", place, 0, len(columns) - 1)
        border = split.get("border")
        if not isinstance(border, (int, float)) or isinstance(border, bool):
            raise doc.fail(place, f"split {level} has no numeric border")
        features.append(index)
        borders.append(border)
    depth = len(splits)
    values = doc.array(tree, "leaf_values", place, (1 << depth) * outputs, np.float64)
    values = values.reshape(1 << depth, outputs)
    return [_full_tree(features, borders, values[:, k], columns, nan_left) for k in range(outputs)]


def _full_tree(features, borders, leaf_values, columns, nan_left) -> Tree:
    """Level d of the full tree splits on split d; the leaf reached by going right at the
    levels in bits b (bit d for level d) is CatBoost's leaf b."""
    depth = len(features)
    inner = (1 << depth) - 1
    n = 2 * inner + 1
    level = np.floor(np.log2(np.arange(n) + 1)).astype(np.int64)
    node = np.arange(n)
    is_leaf = node >= inner
    feature = np.array([columns[features[d]] if d < depth else UNDEFINED for d in level.tolist()])
    threshold = np.array(
        [borders[d] if d < depth else UNDEFINED for d in level.tolist()], np.float32
    )
    left = np.where(is_leaf, LEAF, 2 * node + 1)
    right = np.where(is_leaf, LEAF, 2 * node + 2)
    default = np.array([nan_left[features[d]] if d < depth else False for d in level.tolist()])
    # leaf number: the path from the root, right = 1, level d's choice as bit d
    position = node - inner  # leaves left to right: bit (depth-1-d) of position is level d's
    bits = [(position >> (depth - 1 - d)) & 1 for d in range(depth)]
    catboost_leaf = sum((bit << d for d, bit in enumerate(bits)), np.zeros(n, np.int64))
    value = np.where(is_leaf, leaf_values[np.where(is_leaf, catboost_leaf, 0)], 0.0)
    return Tree(feature, threshold, left, right, default & ~is_leaf, value)


def _info(document: dict, source: InputFile, forest: Forest, outputs: int) -> ModelInfo:
    model_info = document.get("model_info") if isinstance(document.get("model_info"), dict) else {}
    params = model_info.get("params") if isinstance(model_info.get("params"), dict) else {}
    loss = params.get("loss_function") if isinstance(params.get("loss_function"), dict) else {}
    return ModelInfo(
        kind="catboost-json",
        framework="catboost",
        model_class="oblivious trees",
        file=source.name,
        digest=source.digest(),
        extra={
            "objective": loss.get("type"),
            "num_outputs": outputs,
            "num_feature": forest.num_feature,
            "split_rule": "x <= threshold goes left (CatBoost: x > border goes right); "
            "missing goes to default_left",
            "raw_rule": "scale * sum of the trees' leaf values + bias",
        },
    )


READERS.register(
    "catboost-json",
    Reader("catboost-json", _is_catboost_json, read_catboost_json, "CatBoost model (JSON)"),
)
