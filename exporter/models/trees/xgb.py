"""XGBoost models saved as JSON (`Booster.save_model("m.json")`), read as data.

gbtree and dart boosters become the canonical tree arrays (layout.py) with thresholds and leaf
values in float32 as XGBoost stores them; dart adds `trees/tree_weight` [T] (each tree's output
is multiplied by it). gblinear becomes `linear/weight` float32 [features, outputs] and
`linear/bias` float32 [outputs].

Model-level tensors: `base_score` float32 [outputs], the intercept as the file stores it
(probability space for logistic objectives), and `base_margin` float32 [outputs], the value
added to the trees' sum (base_score through the objective's link: logit for logistic, log for
count/gamma/tweedie/cox, as is otherwise). The raw prediction (`output_margin=True`) of a row is
`base_margin[k] + sum of value[leaf] over trees t with tree_class[t] == k` (times tree_weight
for dart), where a row goes left at a node when x[feature] < threshold, or when it is missing
(NaN) and default_left.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from exporter.core.errors import InputError
from exporter.core.weightset import ModelInfo, Note, Tensor, WeightSet
from exporter.files.archive import parse_document
from exporter.files.inputs import InputFile, read_bounded
from exporter.models.trees import ubjson
from exporter.models.trees.layout import Forest, canonical
from exporter.readers import READERS, Probe, Reader, ReadOptions

MAX_MODEL_BYTES = 1 << 30  # a model file read whole (parsing takes ~8x its size in memory)
_UBJ_HEAD = b"{L" + (7).to_bytes(8, "big") + b"learner{"
_JSON_HEAD = re.compile(rb'\s*\{\s*"learner"\s*:\s*\{')
_LOGIT = {"binary:logistic", "reg:logistic", "binary:logitraw"}
_LOG = {"count:poisson", "reg:gamma", "reg:tweedie", "survival:cox"}
_IDENTITY = {
    "reg:squarederror", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror",
    "reg:quantileerror", "binary:hinge", "multi:softmax", "multi:softprob", "rank:pairwise",
    "rank:ndcg", "rank:map", "survival:aft",
}  # fmt: skip


def _is_xgboost_ubj(probe: Probe) -> bool:
    return not probe.members and probe.head.startswith(_UBJ_HEAD)


def _is_xgboost_json(probe: Probe) -> bool:
    if probe.is_dir or probe.members:
        return False
    return _JSON_HEAD.match(probe.head) is not None


class Doc:
    """Typed access to the parsed JSON, every refusal naming the place in the model."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, place: str, what: str) -> InputError:
        return InputError(f"{self.where}: {place}: {what}")

    def obj(self, parent: Any, key: str, place: str) -> dict:
        value = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(value, dict):
            raise self.fail(place, f"no {key!r} object; not an XGBoost model, or damaged")
        return value

    def integer(self, parent: dict, key: str, place: str, low: int = 0, high: int = 1 << 31) -> int:
        value = parent.get(key)
        try:
            number = int(value) if isinstance(value, (str, int)) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise self.fail(place, f"{key} is {value!r}, not a count in [{low}, {high}]")
        return number

    def array(self, parent: dict, key: str, place: str, size: int, dtype: Any) -> np.ndarray:
        """parent[key], a list of size numbers, as dtype (ints must be ints, never rounded)."""
        value = parent.get(key)
        if not isinstance(value, (list, np.ndarray)) or len(value) != size:
            count = len(value) if isinstance(value, (list, np.ndarray)) else type(value).__name__
            raise self.fail(place, f"{key} holds {count} values, expected {size}")
        try:  # UBJSON typed arrays come as arrays of the stored type, JSON lists as numbers
            floats = np.dtype(dtype).kind == "f" and not isinstance(value, np.ndarray)
            array = np.asarray(value, np.float64 if floats else None)
        except (ValueError, TypeError, OverflowError):
            array = None
        kinds = "f" if np.dtype(dtype).kind == "f" else "iub"
        if array is None or array.ndim != 1 or (size and array.dtype.kind not in kinds):
            raise self.fail(place, f"{key} is not a list of numbers of the right kind")
        if np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            if size and (array.min() < info.min or array.max() > info.max):
                raise self.fail(place, f"{key} holds values outside {np.dtype(dtype).name}")
        return array.astype(dtype)


def read_xgboost_json(source: InputFile, options: ReadOptions) -> WeightSet:
    where = str(source)
    data = read_bounded(source.fd, MAX_MODEL_BYTES, where)
    return weightset_from_document(parse_document(data, where), where, source, "xgboost-json")


def read_xgboost_ubj(source: InputFile, options: ReadOptions) -> WeightSet:
    where = str(source)
    data = read_bounded(source.fd, MAX_MODEL_BYTES, where)
    return weightset_from_document(ubjson.loads(data, where), where, source, "xgboost-ubj")


def weightset_from_document(
    document: Any, where: str, source: InputFile | None, kind: str = "xgboost-json"
) -> WeightSet:
    doc = Doc(where)
    learner = doc.obj(document, "learner", "the model")
    param = doc.obj(learner, "learner_model_param", "learner")
    num_feature = doc.integer(param, "num_feature", "learner_model_param", 1)
    outputs = max(
        doc.integer(param, "num_class", "learner_model_param", 0, 1 << 20),
        doc.integer(param, "num_target", "learner_model_param", 0, 1 << 20)
        if "num_target" in param
        else 1,
        1,
    )
    objective = doc.obj(learner, "objective", "learner").get("name")
    if objective is not None and not isinstance(objective, str):
        raise doc.fail("objective", f"objective name {objective!r} is not a string")
    booster = doc.obj(learner, "gradient_booster", "learner")
    name = booster.get("name")
    base_score = _base_score(doc, param, outputs)
    tensors = [Tensor.from_array("base_score", base_score)]
    margin = _base_margin(base_score, objective)
    if margin is not None:
        tensors.append(Tensor.from_array("base_margin", margin))
    if name in ("gbtree", "dart"):
        tensors += _gbtree(doc, booster, num_feature, outputs)
    elif name == "gblinear":
        tensors += _gblinear(doc, booster, num_feature, outputs)
    else:
        raise doc.fail("gradient_booster", f"booster {name!r} is not gbtree, dart or gblinear")
    info = _info(learner, document, where, source, name, objective, num_feature, outputs)
    info.kind = kind
    if margin is None:
        info.warn(
            Note(
                "xgboost-objective",
                f"objective {objective!r}: its link is not known to "
                "exporter; base_margin is not exported (base_score is, as stored)",
            )
        )
    return WeightSet(tensors, info)


def _base_score(doc: Doc, param: dict, outputs: int) -> np.ndarray:
    text = param.get("base_score")
    parts = text.strip().strip("[]").split(",") if isinstance(text, str) else []
    try:
        values = np.asarray([float(part) for part in parts], np.float32)
    except ValueError:
        values = np.zeros(0, np.float32)
    if values.size == 1:
        values = np.repeat(values, outputs)
    if values.size != outputs:
        raise doc.fail("learner_model_param", f"base_score {text!r} is not {outputs} numbers")
    return values


def _base_margin(base_score: np.ndarray, objective: Any) -> np.ndarray | None:
    one = np.float32(1)
    with np.errstate(divide="ignore", invalid="ignore"):  # logf as XGBoost calls it: correctly
        if objective in _LOGIT:  # rounded, which numpy's float32 log is not (float64 is)
            return (-np.log((one / base_score - one).astype(np.float64))).astype(np.float32)
        if objective in _LOG:
            return np.log(base_score.astype(np.float64)).astype(np.float32)
    return base_score.copy() if objective in _IDENTITY else None


def _gbtree(doc: Doc, booster: dict, num_feature: int, outputs: int) -> list[Tensor]:
    dart = booster.get("name") == "dart"
    model = doc.obj(doc.obj(booster, "gbtree", "dart") if dart else booster, "model", "gbtree")
    count = doc.integer(doc.obj(model, "gbtree_model_param", "model"), "num_trees", "model")
    trees = model.get("trees")
    if not isinstance(trees, list) or len(trees) != count:
        raise doc.fail("model", f"trees is not a list of num_trees={count} trees")
    groups = doc.array(model, "tree_info", "model", count, np.int32)
    if count and (groups.min() < 0 or groups.max() >= outputs):
        raise doc.fail("model", f"tree_info names an output outside the model's {outputs}")
    forest = Forest(doc.where, num_feature, np.float32, np.float32)
    for index, tree in enumerate(trees):
        forest.add(_tree(doc, tree, f"tree {index}"), int(groups[index]))
    tensors = forest.tensors()
    if dart:
        weights = doc.array(booster, "weight_drop", "dart", count, np.float32)
        tensors.append(Tensor.from_array("trees/tree_weight", weights))
    return tensors


def _tree(doc: Doc, tree: Any, place: str) -> Any:
    if not isinstance(tree, dict):
        raise doc.fail(place, "not an object")
    param = doc.obj(tree, "tree_param", place)
    n = doc.integer(param, "num_nodes", place, 1)
    if doc.integer(param, "size_leaf_vector", place, 0) > 1:
        raise doc.fail(place, "vector leaves (multi_strategy='multi_output_tree') are not read")
    left = doc.array(tree, "left_children", place, n, np.int32)
    right = doc.array(tree, "right_children", place, n, np.int32)
    cond = doc.array(tree, "split_conditions", place, n, np.float32)
    result = canonical(
        feature=doc.array(tree, "split_indices", place, n, np.int64),
        threshold=cond,
        left=left,
        right=right,
        default_left=doc.array(tree, "default_left", place, n, np.int64) != 0,
        value=doc.array(tree, "base_weights", place, n, np.float32),
        leaf_value=cond,
    )
    result.categories = _categories(doc, tree, place, n)
    return result


def _categories(doc: Doc, tree: dict, place: str, n: int) -> dict[int, np.ndarray]:
    """node -> its category set, for the nodes split_type marks categorical (1)."""
    split_type = doc.array(tree, "split_type", place, n, np.int64) if "split_type" in tree else None
    if split_type is None or not split_type.any():
        return {}
    if ((split_type != 0) & (split_type != 1)).any():
        raise doc.fail(place, "split_type holds a value that is neither numerical nor categorical")
    count = _length(tree.get("categories_nodes"))
    nodes = doc.array(tree, "categories_nodes", place, count, np.int64)
    starts = doc.array(tree, "categories_segments", place, count, np.int64)
    sizes = doc.array(tree, "categories_sizes", place, count, np.int64)
    values = doc.array(tree, "categories", place, _length(tree.get("categories")), np.int64)
    if sorted(nodes.tolist()) != np.flatnonzero(split_type).tolist():
        raise doc.fail(place, "categories_nodes are not the nodes split_type marks categorical")
    if count and (starts.min() < 0 or sizes.min() < 0 or (starts + sizes).max() > len(values)):
        raise doc.fail(place, "categories_segments/sizes point outside categories")
    order = np.argsort(starts, kind="stable")  # XGBoost writes the segments one after another:
    ends = (starts + sizes)[order]  # overlapping ones would copy the same categories many times
    if count > 1 and (starts[order][1:] < ends[:-1]).any():
        raise doc.fail(place, "categories_segments overlap")
    return {int(node): values[a : a + b] for node, a, b in zip(nodes, starts, sizes, strict=True)}


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (list, np.ndarray)) else -1


def _gblinear(doc: Doc, booster: dict, num_feature: int, outputs: int) -> list[Tensor]:
    model = doc.obj(booster, "model", "gblinear")
    weights = doc.array(model, "weights", "gblinear", (num_feature + 1) * outputs, np.float32)
    weights = weights.reshape(num_feature + 1, outputs)
    return [
        Tensor.from_array("linear/weight", np.ascontiguousarray(weights[:-1])),
        Tensor.from_array("linear/bias", np.ascontiguousarray(weights[-1])),
    ]


def _info(learner: dict, document: dict, where: str, source: InputFile | None, booster: Any,
          objective: Any, num_feature: int, outputs: int) -> ModelInfo:  # fmt: skip
    version = document.get("version")
    names = learner.get("feature_names")
    extra: dict[str, Any] = {
        "booster": booster,
        "objective": objective,
        "num_feature": num_feature,
        "num_outputs": outputs,
        "split_rule": "x < threshold goes left; missing goes to default_left",
        "category_rule": "at is_categorical nodes the listed categories go right; other, "
        "negative or non-category values go left; missing goes to default_left",
    }
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        extra["feature_names"] = names
    return ModelInfo(
        kind="xgboost",
        framework="xgboost",
        framework_version=".".join(str(v) for v in version)
        if isinstance(version, (list, np.ndarray))
        else None,
        model_class=str(booster),
        file=source.name if source is not None else where,
        digest=source.digest() if source is not None else None,
        extra=extra,
    )


READERS.register(
    "xgboost-json",
    Reader("xgboost-json", _is_xgboost_json, read_xgboost_json, "XGBoost model (save_model .json)"),
)
READERS.register(
    "xgboost-ubj",
    Reader("xgboost-ubj", _is_xgboost_ubj, read_xgboost_ubj, "XGBoost model (save_model .ubj)"),
)
