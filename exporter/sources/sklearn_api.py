"""Fitted scikit-learn estimators -> WeightSet, names as scikit-learn spells its fitted attributes.

- numeric arrays and float scalars among the fitted attributes (`coef_`, `intercept_`, ...) are
  tensors, bit-identical to the attributes;
- lists of arrays get an index (`coefs_/0`), structured arrays a field (`nodes/threshold`);
- fitted trees export their `tree_` arrays, ensembles each member (`estimators_/3/tree_/value`);
- Pipeline, ColumnTransformer and FeatureUnion prefix their step names (`ridge/coef_`);
- non-array facts that matter (classes_, n_features_in_, feature_names_in_, ...) and the
  hyper-parameters go to the model info in the manifest.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import UsageError
from ..weightset import ModelInfo, Tensor, WeightSet

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
TREE_INFO = ("node_count", "max_depth", "n_features", "n_outputs", "max_n_classes")


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "get_params") and hasattr(value, "fit")


def _fitted_attributes(est: Any) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in vars(est).items()
        if k.endswith("_") and not k.startswith("__") and (not k.startswith("_") or k in INFO_ATTRS)
    ]


class _Collector:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.info: dict[str, Any] = {}
        self.skipped: list[str] = []

    def tensor(self, name: str, array: np.ndarray) -> None:
        self.tensors.append(Tensor.from_array(name, array, origin=name))

    def value(self, name: str, value: Any) -> None:
        """Dispatch one attribute value by type."""
        if isinstance(value, np.ndarray):
            self.array(name, value)
        elif isinstance(value, (bool, np.bool_)):
            self.info[name] = bool(value)
        elif isinstance(value, (numbers.Integral, str)) or value is None:
            self.info[name] = value
        elif isinstance(value, numbers.Real):
            self.tensor(name, np.asarray(value, dtype=np.float64))
        elif _is_estimator(value):
            self.estimator(name, value)
        elif type(value).__name__ == "Tree" and hasattr(value, "node_count"):
            self.tree(name, value)
        elif isinstance(value, (list, tuple)) and value:
            self.sequence(name, value)
        else:
            self.skipped.append(name)

    def array(self, name: str, array: np.ndarray) -> None:
        if array.dtype.names:
            for field in array.dtype.names:
                self.array(f"{name}/{field}", np.ascontiguousarray(array[field]))
        elif array.dtype == object:
            if all(_is_estimator(v) for v in array.flat):
                for index in np.ndindex(array.shape):
                    label = "/".join(map(str, index))
                    self.estimator(f"{name}/{label}", array[index])
            else:
                self.info[name] = array.tolist()
        elif array.dtype.kind in "biuf":
            self.tensor(name, array)
        else:
            self.info[name] = array.tolist()

    def sequence(self, name: str, items: list | tuple) -> None:
        if all(isinstance(v, numbers.Number) for v in items):
            self.info[name] = [v.item() if hasattr(v, "item") else v for v in items]
            return
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
        join = (lambda n: f"{prefix}/{n}") if prefix else (lambda n: n)
        if hasattr(est, "steps") and hasattr(est, "named_steps"):  # Pipeline
            for step, part in est.steps:
                if _is_estimator(part):
                    self.estimator(join(step), part)
            return
        for key, value in _fitted_attributes(est):
            if key == "transformers_":  # ColumnTransformer: (name, transformer, columns)
                for step, part, _columns in value:
                    if _is_estimator(part):
                        self.estimator(join(step), part)
            elif key in INFO_ATTRS:
                self.info[join(key)] = _plain(value)
            else:
                self.value(join(key), value)
        if hasattr(est, "transformer_list"):  # FeatureUnion
            for step, part in est.transformer_list:
                if _is_estimator(part) and _is_fitted(part):
                    self.estimator(join(step), part)
        predictors = vars(est).get("_predictors")  # HistGradientBoosting: list of lists
        if predictors:
            for i, row in enumerate(predictors):
                for j, predictor in enumerate(row):
                    self.array(join(f"_predictors/{i}/{j}/nodes"), predictor.nodes)
            self.info[join("_baseline_prediction")] = _plain(vars(est).get("_baseline_prediction"))


def _is_fitted(est: Any) -> bool:
    return any(k.endswith("_") and not k.startswith("_") for k in vars(est))


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
    """The WeightSet of a fitted scikit-learn estimator (any estimator, Pipeline, ColumnTransformer)."""
    if not _is_estimator(est):
        raise UsageError(f"{type(est).__name__} is not a scikit-learn estimator")
    if not _is_fitted(est) and not hasattr(est, "steps"):
        raise UsageError(f"{type(est).__name__} is not fitted; fit it before exporting")
    import sklearn

    collector = _Collector()
    collector.estimator("", est)
    info = ModelInfo(
        kind=kind,
        framework="scikit-learn",
        framework_version=sklearn.__version__,
        model_name=type(est).__name__,
        model_class=f"{type(est).__module__}.{type(est).__qualname__}",
        file=file,
        sha256=sha256,
    )
    info.extra = dict(collector.info)
    for key in ("n_features_in_", "feature_names_in_", "classes_"):  # properties of composites
        if key not in info.extra and hasattr(est, key):
            info.extra[key] = _plain(getattr(est, key))
    info.extra["params"] = _params(est)
    if hasattr(est, "steps"):
        info.extra["steps"] = [
            [name, f"{type(s).__module__}.{type(s).__qualname__}"] for name, s in est.steps
        ]
    if collector.skipped:
        info.extra["skipped"] = collector.skipped
    return WeightSet(collector.tensors, info)
