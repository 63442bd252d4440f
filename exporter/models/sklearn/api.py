"""Fitted scikit-learn estimators -> WeightSet, names as scikit-learn spells its fitted attributes.

- numeric arrays and float scalars among the fitted attributes (`coef_`, `intercept_`, ...) are
  tensors, bit-identical to the attributes;
- private attributes hold what prediction needs too (`_fit_X`, `_dual_coef_`, `_gamma`): they are
  exported as `<owner>/private/<name without the leading underscore>` (`private/fit_X`);
- lists of arrays get an index (`coefs_/0`), structured arrays a field (`nodes/threshold`), dicts
  a key; text, dicts of numbers, sparse matrices and kernels have encodings (sklearn_state.py);
- fitted trees export their `tree_` arrays, ensembles each member (`estimators_/3/tree_/value`),
  helper objects their attributes (`calibrated_classifiers_/0/calibrators/1/a_`);
- Pipeline, ColumnTransformer, FeatureUnion and FrozenEstimator prefix their step names
  (`ridge/coef_`, `estimator/coef_`);
- non-array facts (n_features_in_, classes_, ints, strings) and the hyper-parameters go to the
  model info in the manifest; objects that are not parameters (random generators, losses, search
  indexes) are named under "not_exported"; anything else is an InputError, never a silent gap.
Fitted means what scikit-learn's `check_is_fitted` says: stateless estimators export 0 tensors.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from exporter.core.errors import InputError, UsageError
from exporter.core.weightset import ModelInfo, Tensor, WeightSet
from exporter.models.sklearn.state import (
    encode_mapping,
    encode_text,
    foreign_fields,
    is_kernel,
    is_number_mapping,
    is_text,
    kernel_arrays,
    not_exported_reason,
    sparse_arrays,
)

INFO_ATTRS = {
    "classes_", "n_classes_", "n_features_in_", "feature_names_in_", "n_outputs_",
    "n_iter_", "n_layers_", "out_activation_", "t_", "loss_", "best_loss_", "loss_curve_",
    "validation_scores_", "validation_score_", "best_validation_score_", "n_estimators_", "n_components_",
    "n_samples_seen_", "n_trees_per_iteration_", "train_score_", "oob_score_", "fit_status_",
    "shape_fit_", "n_support_", "n_features_", "max_features_", "effective_metric_",
    "effective_metric_params_", "n_samples_fit_", "outputs_2d_", "do_early_stopping_",
    "output_indices_", "sparse_output_", "feature_names_out_", "_n_features_out",
}  # fmt: skip
TREE_ARRAYS = (
    "children_left", "children_right", "feature", "threshold", "value", "impurity",
    "n_node_samples", "weighted_n_node_samples", "missing_go_to_left",
)  # fmt: skip
MAX_DEPTH = 200  # name segments; deeper state is refused, never a RecursionError
TREE_INFO = ("node_count", "max_depth", "n_features", "n_outputs", "max_n_classes")


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "get_params") and hasattr(value, "fit")


def _state(obj: Any, estimator: bool) -> list[tuple[str, str, Any]]:
    """(attribute, canonical suffix, value) for the state of obj: an estimator's fitted
    attributes (`coef_`) and private attributes (`_fit_X` -> `private/fit_X`); every attribute
    of a plain scikit-learn helper object (a calibrated classifier, a tree predictor)."""
    found = []
    for key, value in vars(obj).items():
        if key.startswith("__"):
            continue
        if key in INFO_ATTRS or (key.endswith("_") and not key.startswith("_")):
            found.append((key, key, value))
        elif key.startswith("_"):
            found.append((key, f"private/{key[1:]}", value))
        elif not estimator:
            found.append((key, key, value))
    return found


def _param_parts(est: Any) -> list[tuple[str, Any]]:
    """Fitted estimators a composite predicts with directly from its parameters: Pipeline
    steps, FeatureUnion transformers, the model a FrozenEstimator wraps."""
    if hasattr(est, "steps") and hasattr(est, "named_steps"):
        parts = list(est.steps)
    elif hasattr(est, "transformer_list"):
        parts = list(est.transformer_list)
    elif type(est).__name__ == "FrozenEstimator":
        parts = [("estimator", est.estimator)]
    else:
        return []
    return [(name, part) for name, part in parts if _is_estimator(part) and _is_fitted(part)]


class _Collector:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.info: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}  # name -> type exporter cannot place
        self.not_exported: dict[str, str] = {}  # name -> why it is not a parameter
        self.path: list[int] = []  # ids of the objects being walked, outermost first

    @contextlib.contextmanager
    def inside(self, name: str, obj: Any) -> Iterator[None]:
        """Walk into obj; refuses a cycle (obj holds itself)."""
        if id(obj) in self.path:
            raise InputError(f"{name}: the estimator holds itself (a reference cycle)")
        self.path.append(id(obj))
        try:
            yield
        finally:
            self.path.pop()

    def tensor(self, name: str, array: np.ndarray) -> None:
        self.tensors.append(Tensor.from_array(name, np.asarray(array), origin=name))

    def parts(self, name: str, parts: list[tuple[str, np.ndarray]]) -> None:
        for suffix, array in parts:
            self.tensor(f"{name}/{suffix}", array)

    def value(self, name: str, value: Any) -> None:
        """Dispatch one attribute value by type."""
        if name.count("/") >= MAX_DEPTH:  # deep nesting: a clear refusal, never a RecursionError
            raise InputError(f"{name[:60]}...: state nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, np.ndarray):
            self.array(name, value)
        elif isinstance(value, (bool, np.bool_)):
            self.info[name] = bool(value)
        elif isinstance(value, (numbers.Integral, str)) or value is None:
            self.info[name] = _plain(value)
        elif isinstance(value, numbers.Real):
            self.tensor(name, value if isinstance(value, np.generic) else np.float64(value))
        elif isinstance(value, (np.dtype, slice, type)):
            self.info[name] = str(value)
        elif _is_estimator(value):
            self.estimator(name, value)
        else:
            self.structure(name, value)

    def structure(self, name: str, value: Any) -> None:
        """Trees, kernels, sparse matrices, dicts, lists and helper objects."""
        if type(value).__name__ == "Tree" and hasattr(value, "node_count"):
            self.tree(name, value)
        elif _is_sparse(value):
            self.parts(name, sparse_arrays(value))
        elif is_kernel(value):
            self.parts(name, kernel_arrays(value))
            self.info[name] = repr(value)
        elif isinstance(value, dict):
            self.mapping(name, value)
        elif isinstance(value, (list, tuple)):
            self.sequence(name, value)
        elif (reason := not_exported_reason(value)) is not None:
            self.not_exported[name] = reason
        elif (fields := foreign_fields(value)) is not None:
            for field in fields:
                self.value(f"{name}/{field}", getattr(value, field))
        elif type(value).__module__.startswith("sklearn.") and hasattr(value, "__dict__"):
            with self.inside(name, value):
                for _key, suffix, part in _state(value, estimator=False):
                    self.value(f"{name}/{suffix}", part)
        else:
            self.skipped[name] = f"{type(value).__module__}.{type(value).__qualname__}"

    def array(self, name: str, array: np.ndarray) -> None:
        if array.dtype.names:
            for field in array.dtype.names:
                self.array(f"{name}/{field}", np.ascontiguousarray(array[field]))
        elif array.dtype.kind in "biuf":
            self.tensor(name, array)
        elif is_text(array):
            self.parts(name, encode_text(array))
        elif array.dtype == object and array.size and all(_is_estimator(v) for v in array.flat):
            for index in np.ndindex(array.shape):
                self.estimator(f"{name}/{'/'.join(map(str, index))}", array[index])
        else:
            self.info[name] = _plain(array)

    def mapping(self, name: str, mapping: dict) -> None:
        if not mapping:
            self.info[name] = {}
        elif is_number_mapping(mapping):
            self.parts(name, encode_mapping(mapping))
        else:
            for key, item in mapping.items():
                self.value(f"{name}/{key}", item)

    def sequence(self, name: str, items: list | tuple) -> None:
        if is_text(items):
            self.parts(name, encode_text(items))
        elif all(isinstance(v, numbers.Number) for v in items) or not items:
            self.info[name] = [_plain(v) for v in items]
        else:
            for index, item in enumerate(items):
                self.value(f"{name}/{index}", item)

    def tree(self, name: str, tree: Any) -> None:
        for field in TREE_ARRAYS:
            if hasattr(tree, field):
                self.tensor(f"{name}/{field}", np.asarray(getattr(tree, field)))
        for field in TREE_INFO:
            if hasattr(tree, field):
                self.info[f"{name}/{field}"] = int(getattr(tree, field))

    def estimator(self, prefix: str, est: Any) -> None:
        """Walk one fitted estimator; composites recurse into their fitted parts."""
        before = (len(self.tensors), len(self.info), len(self.not_exported))
        with self.inside(prefix or type(est).__name__, est):
            self.estimator_state(prefix, est)
        if prefix and before == (len(self.tensors), len(self.info), len(self.not_exported)):
            self.info[prefix] = f"{type(est).__module__}.{type(est).__qualname__}"  # no state

    def estimator_state(self, prefix: str, est: Any) -> None:
        join = (lambda n: f"{prefix}/{n}") if prefix else (lambda n: n)
        for step, part in _param_parts(est):
            self.estimator(join(step), part)
        for key, suffix, value in _state(est, estimator=True):
            if key == "transformers_":  # ColumnTransformer: (name, transformer, columns)
                self.column_transformers(join, value)
            elif key in INFO_ATTRS:
                self.info[join(key)] = _plain(value)
                if isinstance(value, np.ndarray):
                    self.array(join(suffix), value)
            else:
                self.value(join(suffix), value)

    def column_transformers(self, join: Any, transformers: list) -> None:
        listed = []
        for step, part, columns in transformers:
            if _is_estimator(part):
                self.estimator(join(step), part)
            kind = (
                part if isinstance(part, str) else f"{type(part).__module__}.{type(part).__name__}"
            )
            listed.append([step, kind, _plain(columns) if not callable(columns) else repr(columns)])
        self.info[join("transformers_")] = listed


def _is_sparse(value: Any) -> bool:
    import scipy.sparse

    return scipy.sparse.issparse(value)


def _is_fitted(est: Any) -> bool:
    """scikit-learn's own verdict (check_is_fitted: __sklearn_is_fitted__, stateless estimators)."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator scikit-learn knows how to check
        return any(k.endswith("_") and not k.startswith("_") for k in vars(est))
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _params(est: Any) -> dict[str, Any]:
    params = {}
    for key, value in est.get_params(deep=False).items():
        if _is_estimator(value) or key in ("steps", "transformers", "transformer_list"):
            continue
        params[key] = (
            value if isinstance(value, (bool, int, float, str, type(None))) else repr(value)
        )
    return params


def weightset_from_estimator(
    est: Any, *, kind: str = "sklearn-object", file: str | None = None, sha256: str | None = None
) -> WeightSet:
    """The WeightSet of a fitted scikit-learn estimator (any estimator, Pipeline, ColumnTransformer).

    Every fitted and private attribute is exported (module docstring, sklearn_state.py) or named
    under "not_exported" in the info; state the reader cannot place is an InputError, never a
    silently partial export. Stateless estimators give 0 tensors and their parameters."""
    if not _is_estimator(est):
        raise UsageError(f"{type(est).__name__} is not a scikit-learn estimator")
    if not _is_fitted(est):
        raise UsageError(f"{type(est).__name__} is not fitted; fit it before exporting")
    import sklearn

    collector = _Collector()
    collector.estimator("", est)
    _check_complete(est, collector, file)
    info = ModelInfo(
        kind=kind,
        framework="scikit-learn",
        framework_version=sklearn.__version__,
        model_name=type(est).__name__,
        model_class=f"{type(est).__module__}.{type(est).__qualname__}",
        file=file,
        digest=sha256,
    )
    info.extra = _extra_info(est, collector)
    return WeightSet(collector.tensors, info)


def _check_complete(est: Any, collector: _Collector, file: str | None) -> None:
    """InputError naming the state the collector could not place (the export would miss it)."""
    if not collector.skipped:
        return
    shown = ", ".join(f"{name} ({kind})" for name, kind in list(collector.skipped.items())[:8])
    more = len(collector.skipped) - 8
    where = f"{file}: " if file else ""
    raise InputError(
        f"{where}{type(est).__name__}: cannot export {shown}"
        f"{f' and {more} more' if more > 0 else ''}; an export without it would be incomplete, "
        "so nothing was exported (report the class to exporter's maintainers)"
    )


def _extra_info(est: Any, collector: _Collector) -> dict[str, Any]:
    """The manifest info: facts, hyper-parameters, steps and what was left out and why."""
    extra = dict(collector.info)
    for key in ("n_features_in_", "feature_names_in_", "classes_"):  # properties of composites
        if key not in extra and hasattr(est, key):
            try:
                extra[key] = _plain(getattr(est, key))
            except Exception:  # a property that needs state this composite lacks
                continue
    extra["params"] = _params(est)
    if hasattr(est, "steps"):
        extra["steps"] = [
            [name, f"{type(s).__module__}.{type(s).__qualname__}"] for name, s in est.steps
        ]
    if collector.not_exported:
        extra["not_exported"] = collector.not_exported
    return extra
