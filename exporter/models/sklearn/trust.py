"""Which names a skops file may use, by exact fully qualified name and by how skops uses them.

skops rebuilds an object from the nodes of `schema.json`; each node names a `module.name` and a
loader (the node kind). Some loaders CALL what they name: `ObjectNode` (`cls.__new__` then
`__setstate__`), `ConstructorFromReduceNode` and `LossNode` (`cls(*args)` with arguments from the
file), `DictNode` (`cls()`), `ListNode`/`SetNode` (`cls([...])`), `TupleNode` (namedtuples),
`NdArrayNode` (`cls(array)`), the random-state nodes. Others only REFERENCE it (`FunctionNode`,
`TypeNode`: the object is looked up, not called, while loading). skops' own `trusted=` list does
not tell the two apart, so a name trusted for one use is trusted for every use: trusting
`builtins.exec` as a "type" lets a file call `exec("...")` through `ConstructorFromReduceNode`.

So exporter audits `schema.json` itself before skops sees it (audit_schema):

- a name in a calling node must be one of TRUSTED.classes: scikit-learn's estimators
  (`sklearn.utils.all_estimators()` and every `BaseEstimator` subclass defined in scikit-learn
  outside its test helpers), the internal classes fitted models hold (trees, tree predictors,
  losses and links, kernels, distance metrics, KD/ball trees, optimizers, CV splitters,
  scorers, metadata requests, Bunch, ...: every subclass of a short list of scikit-learn base
  classes), and the exact numpy/scipy/builtins types skops needs for arrays, dtypes, random
  states and sparse matrices. No function is ever accepted in a calling node.
- a name in a referencing node may also be one of TRUSTED.functions: numpy and scipy.special
  ufuncs (pure elementwise math, so `FunctionTransformer(func=np.log1p)` loads) and the few
  pure scikit-learn/numpy functions that scikit-learn's own defaults hold (`numpy.mean` for
  FeatureAgglomeration, the feature-selection score functions, the metrics behind the named
  scorers, `check_array` for HistGradientBoosting's categorical preprocessor, the k-means
  single-run functions of BisectingKMeans, scipy's `asarray` held by BSpline).
- `MethodNode` (bound methods), `OperatorFuncNode` (`operator.attrgetter`/`itemgetter`/
  `methodcaller`) and loaders exporter does not know are refused outright.

Classes in scikit-learn whose construction does more than store state are never trusted:
`sklearn.callback.*` (ScoringMonitor.__setstate__ connects to an address from the file or opens
a listening socket), and nothing from `sklearn.datasets`, `sklearn.utils._testing`,
`sklearn.externals` or `sklearn.tree._export` (file, network and subprocess helpers).
The lists are built once per process from the installed libraries (TRUSTED()).
"""

from __future__ import annotations

import functools
import importlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

CALLING = frozenset({
    "ObjectNode", "ConstructorFromReduceNode", "LossNode", "TreeNode", "DictNode",
    "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "NdArrayNode", "MaskedArrayNode",
    "DTypeNode", "RandomStateNode", "RandomGeneratorNode", "SparseMatrixNode", "BytesNode",
    "BytearrayNode", "SliceNode", "PartialNode",
})  # fmt: skip
REFERENCING = frozenset({"FunctionNode", "TypeNode", "CachedNode"})
IGNORED = frozenset({"JsonNode"})  # json.loads of its content; skops ignores its name
NEVER_TRUSTED = ("sklearn.callback", "sklearn.datasets", "sklearn.utils._testing",
                 "sklearn.utils._mocking", "sklearn.externals", "sklearn.tree._export")  # fmt: skip

# scikit-learn base classes whose scikit-learn subclasses fitted models hold (module, name).
SKLEARN_FAMILIES = (
    ("sklearn.base", "BaseEstimator"),
    ("sklearn.gaussian_process.kernels", "Kernel"),
    ("sklearn._loss.loss", "BaseLoss"),
    ("sklearn._loss.link", "BaseLink"),
    ("sklearn._loss._loss", "CyLossFunction"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric"),
    ("sklearn.neighbors._kd_tree", "BinaryTree64"),
    ("sklearn.neighbors._ball_tree", "BinaryTree64"),
    ("sklearn.neural_network._stochastic_optimizers", "BaseOptimizer"),
    ("sklearn.model_selection._split", "BaseCrossValidator"),
    ("sklearn.model_selection._split", "BaseShuffleSplit"),
    ("sklearn.model_selection._split", "_RepeatedSplits"),
    ("sklearn.metrics._scorer", "_BaseScorer"),
)
# Single scikit-learn internal classes that fitted models hold.
SKLEARN_CLASSES = (
    "sklearn.impute._iterative._ImputerTriplet",  # IterativeImputer.imputation_sequence_
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn.gaussian_process.kernels.Hyperparameter",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.metrics._scorer._MultimetricScorer",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.model_selection._split._CVIterableWrapper",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils._metadata_requests.MetadataRequest",
    "sklearn.utils._metadata_requests.MethodMetadataRequest",
    "sklearn.utils._metadata_requests.MetadataRouter",
    "sklearn.utils._metadata_requests.MethodMapping",
    "sklearn.utils._metadata_requests.MethodPair",
    "sklearn.utils._metadata_requests.RouterMappingPair",
    "scipy.interpolate._bsplines.BSpline",
)
# Experimental estimators live in modules all_estimators() only sees once enabled.
SKLEARN_EXTRA_MODULES = (
    "sklearn.model_selection._search_successive_halving",
    "sklearn.impute._iterative",
)
BUILTIN_CLASSES = (
    "builtins.dict", "builtins.list", "builtins.set", "builtins.tuple", "builtins.str",
    "builtins.int", "builtins.float", "builtins.bool", "builtins.complex", "builtins.bytes",
    "builtins.bytearray", "builtins.slice", "collections.OrderedDict", "collections.defaultdict",
    "functools.partial",  # PartialNode: builds partial(func, ...) and never calls func
)  # fmt: skip
# Pure functions scikit-learn's own defaults hold (referenced, never called while loading).
SKLEARN_FUNCTIONS = (
    "numpy.mean",  # FeatureAgglomeration(pooling_func=np.mean)
    "sklearn.feature_selection.chi2",
    "sklearn.feature_selection.f_classif",
    "sklearn.feature_selection.f_oneway",
    "sklearn.feature_selection.f_regression",
    "sklearn.feature_selection.r_regression",
    "sklearn.feature_selection.mutual_info_classif",
    "sklearn.feature_selection.mutual_info_regression",
    "sklearn.utils.validation.check_array",  # HistGradientBoosting categorical preprocessor
    "sklearn.cluster._kmeans._kmeans_single_lloyd",  # BisectingKMeans
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    "scipy._lib.array_api_compat.numpy.asarray",  # scipy BSpline (SplineTransformer)
)


@dataclass(frozen=True)
class Trust:
    """The exact names a skops file may use: classes (may be called) and functions (may only be
    referenced)."""

    classes: frozenset[str]
    functions: frozenset[str]
    bit_generators: frozenset[str]


def type_name(obj: Any) -> str | None:
    """`module.name` as skops writes it for a class or function (None if it has no module)."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


def _resolve(dotted: str) -> Any | None:
    """The object at module.name (importing the module), or None when it does not exist."""
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _subclasses(base: type) -> set[type]:
    found, todo = set(), [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found | {base}


def _sklearn_classes() -> set[str]:
    """Estimators and the internal classes of fitted models, from scikit-learn itself."""
    from sklearn.utils import all_estimators

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in SKLEARN_EXTRA_MODULES:
            importlib.import_module(module)
        classes = {cls for _, cls in all_estimators()}
    for module, name in SKLEARN_FAMILIES:
        base = _resolve(f"{module}.{name}")
        if isinstance(base, type):
            classes |= _subclasses(base)
    classes |= {_resolve(name) for name in SKLEARN_CLASSES}
    names = {type_name(cls) for cls in classes if isinstance(cls, type)}
    return {n for n in names if n and n.startswith(("sklearn.", "scipy.")) and _allowed(n)}


def _allowed(name: str) -> bool:
    """False for names from modules that are never trusted (test helpers, I/O, callbacks)."""
    module = name.rpartition(".")[0]
    if any(module == bad or module.startswith(bad + ".") for bad in NEVER_TRUSTED):
        return False
    return not any(part.startswith(("test", "_test")) for part in module.split("."))


def _numpy_scipy_classes() -> set[str]:
    """ndarray, dtype, scalar types, masked arrays, random states and sparse matrices."""
    import numpy as np
    import scipy.sparse as sp

    classes: set[Any] = {np.ndarray, np.ma.MaskedArray, np.random.RandomState, np.random.Generator}
    classes |= set(np.sctypeDict.values())
    sparse = (sp.spmatrix, sp.sparray)
    classes |= {c for c in vars(sp).values() if isinstance(c, type) and issubclass(c, sparse)}
    return {n for n in map(type_name, classes) if n} | {"numpy.dtype", *BUILTIN_CLASSES}


def _functions() -> set[str]:
    """numpy and scipy.special ufuncs, SKLEARN_FUNCTIONS and the metrics of the named scorers."""
    import numpy as np
    import scipy.special
    from sklearn.metrics import get_scorer, get_scorer_names

    found: set[Any] = {_resolve(name) for name in SKLEARN_FUNCTIONS}
    for module in (np, scipy.special):
        found |= {f for f in vars(module).values() if isinstance(f, np.ufunc)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found |= {getattr(get_scorer(name), "_score_func", None) for name in get_scorer_names()}
    names = {type_name(f) for f in found if callable(f) and not isinstance(f, type)}
    names |= {f"numpy.{n}" for n, f in vars(np).items() if isinstance(f, np.ufunc)}
    names |= {
        f"scipy.special.{n}" for n, f in vars(scipy.special).items() if isinstance(f, np.ufunc)
    }
    return {n for n in names if n and _allowed(n)}


def _bit_generators() -> set[str]:
    """The numpy.random bit generator classes a Generator may name (numpy.random.PCG64, ...)."""
    import numpy as np

    return {
        name
        for name, obj in vars(np.random).items()
        if isinstance(obj, type)
        and issubclass(obj, np.random.BitGenerator)
        and obj is not np.random.BitGenerator
    }


@functools.cache
def TRUSTED() -> Trust:
    """The trust lists, built once per process from the installed scikit-learn, numpy, scipy."""
    classes = frozenset(_sklearn_classes() | _numpy_scipy_classes())
    return Trust(classes, frozenset(_functions()) - classes, frozenset(_bit_generators()))


def audit_schema(schema: Any) -> tuple[set[str], set[str]]:
    """(the names schema.json uses that are trusted for how skops uses them, those that are
    not). Every node is visited, wherever it sits, so nothing skops could build is skipped.
    The walk is iterative and linear: a stack of iterators as deep as the document (never a
    copy of its lists), and only nodes (dicts with a `__loader__`) cost more than a type test."""
    trust = TRUSTED()
    accepted: set[str] = set()
    refused: set[str] = set()
    stack: list[Iterator[Any]] = [iter((schema,))]
    while stack:
        for item in stack[-1]:
            if isinstance(item, dict):
                if item:
                    if "__loader__" in item:
                        for name, ok in _node_names(item, trust):
                            (accepted if ok else refused).add(name)
                    stack.append(iter(item.values()))
                    break
            elif isinstance(item, list) and item:
                stack.append(iter(item))
                break
        else:
            stack.pop()
    return accepted, refused


def _node_names(node: dict, trust: Trust) -> list[tuple[str, bool]]:
    """Each name one node makes skops look up, and whether it is trusted for that use."""
    loader, name = node.get("__loader__"), _name(node.get("__module__"), node.get("__class__"))
    if not isinstance(loader, str):
        return [(f"{name} (a node without a loader name)", False)]
    if loader in IGNORED:
        return []
    if loader in CALLING:
        found = [(name, name in trust.classes)]
        if loader == "RandomGeneratorNode":
            found.append(_bit_generator(node, trust))
        return found
    if loader in REFERENCING:
        found = [(name, name in trust.classes or name in trust.functions)]
        content = node.get("content")
        if loader == "FunctionNode" and isinstance(content, dict):  # skops protocol 0
            old = _name(content.get("module_path"), content.get("function"))
            found.append((old, old in trust.classes or old in trust.functions))
        return found
    if loader == "MethodNode":
        content = node.get("content")
        method = content.get("func") if isinstance(content, dict) else None
        return [(f"{name}.{method}" if isinstance(method, str) else name, False)]
    return [(name if loader == "OperatorFuncNode" else f"{name} ({loader} node)", False)]


def _name(module: Any, name: Any) -> str:
    if isinstance(module, str) and isinstance(name, str):
        return f"{module}.{name}"
    return repr(f"{module!r}.{name!r}")


def _bit_generator(node: dict, trust: Trust) -> tuple[str, bool]:
    """The bit generator a Generator node names inside its state (skops calls it by name)."""
    try:
        state = node["content"]["bit_generator"]["content"]["bit_generator"]
        name = json.loads(state["content"]) if isinstance(state, dict) else state
    except (KeyError, TypeError, ValueError):
        return "numpy.random Generator without a bit generator name", False
    if not isinstance(name, str):
        return f"numpy.random.{name!r}", False
    return f"numpy.random.{name}", name in trust.bit_generators
