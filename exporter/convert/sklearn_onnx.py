"""scikit-learn estimators to ONNX through skl2onnx.

- One input called `input`, float32 (or float64 with --double), shape [None, n_features_in_].
- Classifiers give plain tensors `label` and `probabilities` (zipmap off for every classifier in
  the model) unless zipmap is asked for (`output_label`, `output_probability`: a list of dicts).
- What the source model is compared with, per skl2onnx output: `label` = predict();
  `probabilities` = predict_proba(), or decision_function() for classifiers without probabilities
  (a binary score d laid out as skl2onnx does: [d, -d] for SVC/NuSVC, one column d for linear
  classifiers); `variable` = predict() (regressors) or
  transform() (transformers), as 2-D (samples x values).
- Seeded inputs follow what the model saw where it records it (see sample_inputs).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from ..errors import UnsupportedError, UsageError, require
from ..weightset import WeightSet
from .base import CONVERTERS, Converter, ConvertOptions, InputSpec, SourceModel
from .hgb_patch import hgb_missing_tracks_fix

INPUT_NAME = "input"


def _walk(est: Any) -> list[Any]:
    """est and every estimator inside it (Pipeline steps, ColumnTransformer parts, ensembles)."""
    found = [est]
    parts: list[Any] = []
    if hasattr(est, "steps"):
        parts = [step for _, step in est.steps]
    elif hasattr(est, "transformers_"):
        parts = [part for _, part, _ in est.transformers_]
    elif hasattr(est, "transformer_list"):
        parts = [part for _, part in est.transformer_list]
    for part in parts:
        if hasattr(part, "get_params"):
            found.extend(_walk(part))
    return found


def _final(est: Any) -> Any:
    return _final(est.steps[-1][1]) if hasattr(est, "steps") else est


def n_features(est: Any) -> int:
    """The number of input features, from the fitted model."""
    count = getattr(est, "n_features_in_", None)
    if count is None:
        raise UnsupportedError(
            f"{type(est).__name__} does not record n_features_in_; is it fitted?"
        )
    return int(count)


def _check_columns(est: Any) -> None:
    for part in _walk(est):
        if hasattr(part, "transformers_"):
            for name, _, columns in part.transformers_:
                if isinstance(columns, str) or (
                    isinstance(columns, (list, tuple)) and any(isinstance(c, str) for c in columns)
                ):
                    raise UnsupportedError(
                        f"ColumnTransformer part {name!r} selects columns by name; exporter "
                        "converts one numeric input matrix: select columns by index"
                    )


def to_onnx(source: SourceModel, options: ConvertOptions) -> tuple[Any, list[str]]:
    """The ONNX ModelProto of a fitted estimator, made by skl2onnx.convert_sklearn."""
    skl2onnx = require("skl2onnx", "convert")
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    est = source.model
    _check_columns(est)
    tensor_type = DoubleTensorType if options.double else FloatTensorType
    initial = [(INPUT_NAME, tensor_type([None, n_features(est)]))]
    zipmap_off = {id(p): {"zipmap": False} for p in _walk(est) if hasattr(p, "classes_")}
    if hasattr(_final(est), "classes_"):
        zipmap_off[id(est)] = {"zipmap": False}
    for _ in range(len(zipmap_off) + 1):
        try:
            with warnings.catch_warnings(), hgb_missing_tracks_fix():
                warnings.simplefilter("ignore", FutureWarning)
                proto = skl2onnx.convert_sklearn(
                    est,
                    initial_types=initial,
                    options=None if options.zipmap else zipmap_off,
                    target_opset=options.opset,
                )
            break
        except NameError as exc:  # a classifier without ZipMap (LinearSVC) refuses the option
            refused = _refuses_zipmap(est, exc)
            if not refused or id(refused) not in zipmap_off:
                raise _unsupported(est, exc, options) from None
            del zipmap_off[id(refused)]
            if refused is _final(est):
                zipmap_off.pop(id(est), None)
        except Exception as exc:
            raise _unsupported(est, exc, options) from None
    _check_runnable(proto, est, options)
    return proto, []


def _refuses_zipmap(est: Any, exc: Exception) -> Any:
    """The part of est named by skl2onnx's "Option 'zipmap' not in [...] for class 'X'"."""
    named = re.search(r"Option 'zipmap' not in .* for class '([^']+)'", str(exc))
    parts = [p for p in _walk(est) if named and type(p).__name__ == named.group(1)]
    return parts[0] if parts else None


def _unsupported(est: Any, exc: Exception, options: ConvertOptions) -> Exception:
    text = str(exc)
    named = re.search(r"<class '([^']+)'>", text)
    if named and type(exc).__name__ in ("MissingShapeCalculator", "MissingConverter"):
        return UnsupportedError(
            f"skl2onnx has no converter for {named.group(1)} (in {type(est).__name__}); "
            "it cannot be converted to ONNX"
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    double = " with --double" if options.double else ""
    return UnsupportedError(
        f"skl2onnx cannot convert {type(est).__name__}{double}: {type(exc).__name__}: {first}"
    )


def _check_runnable(proto: Any, est: Any, options: ConvertOptions) -> None:
    """skl2onnx writes some float64 graphs onnxruntime has no kernels for: name the node."""
    ort = require("onnxruntime", "convert")
    try:
        ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = str(exc)
        node = re.search(r"node \(([^)]+)\)|node with name '([^']+)'", text)
        name = next((g for g in node.groups() if g), "?") if node else "?"
        ops = [n.op_type for n in proto.graph.node if n.name == name]
        part = f"{ops[0] if ops else 'node'} {name!r}"
        hint = "; convert without --double" if options.double else ""
        raise UnsupportedError(
            f"onnxruntime cannot run the ONNX skl2onnx made for {type(est).__name__}: "
            f"{part} is not supported{' in float64' if options.double else ''}{hint}"
        ) from None


def _sklearn_input(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The one input, widened to float64 for scikit-learn (the same values: every float32 is
    exact in float64), since some fitted models (KMeans) refuse float32 arrays."""
    (array,) = inputs.values()
    return array.astype(np.float64) if array.dtype == np.float32 else array


def is_clusterer(est: Any) -> bool:
    from sklearn.base import is_clusterer as check

    return bool(check(est))


def run(
    source: SourceModel, inputs: dict[str, np.ndarray], options: ConvertOptions
) -> dict[str, np.ndarray]:
    """The source model's outputs under skl2onnx's output names (see the module docstring)."""
    est = source.model
    X = _sklearn_input(inputs)
    final = _final(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature-name and deprecation warnings
        if hasattr(final, "classes_"):
            label, scores = (
                ("output_label", "output_probability")
                if options.zipmap
                else (
                    "label",
                    "probabilities",
                )
            )
            return {label: np.asarray(est.predict(X)), scores: _scores(est, X)}
        if is_clusterer(final) and hasattr(est, "transform"):
            # skl2onnx: label = predict(), scores = transform() (distances to the centres)
            return {"label": np.asarray(est.predict(X)), "scores": np.asarray(est.transform(X))}
        if hasattr(est, "predict"):
            values = np.asarray(est.predict(X))
        else:
            values = np.asarray(est.transform(X))
    return {"variable": values.reshape(len(X), -1)}


def _scores(est: Any, X: np.ndarray) -> np.ndarray:
    final = _final(est)
    if hasattr(final, "predict_proba") and not _svc_without_probability(final):
        return np.asarray(est.predict_proba(X))
    scores = np.asarray(est.decision_function(X))
    if scores.ndim == 1:  # binary: skl2onnx's layouts of the one score d
        libsvm = hasattr(final, "support_vectors_")
        scores = np.stack([scores, -scores], axis=1) if libsvm else scores[:, None]
    return scores


def _svc_without_probability(est: Any) -> bool:
    return hasattr(est, "probability") and not est.probability


def label_outputs(source: SourceModel, options: ConvertOptions) -> set[str]:
    return {"output_label" if options.zipmap else "label"}


def sample_inputs(
    source: SourceModel, specs: list[InputSpec], rng: np.random.Generator, samples: int
) -> dict[str, np.ndarray]:
    """Seeded inputs within the ranges the model saw, where it records them.

    The first step decides: StandardScaler -> normal(mean_, scale_); MinMaxScaler -> uniform
    over [data_min_, data_max_]; tree models -> uniform over each feature's split thresholds
    (widened by 10 %); anything else -> standard normal.
    """
    (spec,) = specs
    n = spec.shape[1] if spec.shape[1] is not None else n_features(source.model)
    low, high, normal = _feature_ranges(source.model, n)
    draw = rng.normal if normal else rng.uniform
    values = draw(low, high, (samples, n))
    return {spec.name: values.astype(spec.dtype)}


def _feature_ranges(est: Any, n: int) -> tuple[Any, Any, bool]:
    first = est.steps[0][1] if hasattr(est, "steps") else est
    if hasattr(first, "mean_") and hasattr(first, "scale_") and first.scale_ is not None:
        return np.asarray(first.mean_), np.asarray(first.scale_), True
    if hasattr(first, "data_min_"):
        return np.asarray(first.data_min_), np.asarray(first.data_max_), False
    thresholds = _split_thresholds(first, n)
    if thresholds is not None:
        low, high = thresholds
        margin = 0.1 * np.maximum(high - low, 1e-3)
        return low - margin, high + margin, False
    return np.zeros(n), np.ones(n), True


def _split_thresholds(est: Any, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    trees = [est] if hasattr(est, "tree_") else list(np.ravel(getattr(est, "estimators_", [])))
    for tree in (getattr(t, "tree_", None) for t in trees):
        if tree is None:
            continue
        split = tree.feature >= 0
        np.minimum.at(low, tree.feature[split], tree.threshold[split])
        np.maximum.at(high, tree.feature[split], tree.threshold[split])
    mapper = getattr(est, "_bin_mapper", None)  # HistGradientBoosting
    if mapper is not None:
        for feature, edges in enumerate(mapper.bin_thresholds_[:n]):
            if len(edges):
                low[feature], high[feature] = (
                    min(low[feature], edges[0]),
                    max(high[feature], edges[-1]),
                )
    if not np.isfinite(low).any():
        return None
    unused = ~np.isfinite(low)
    low[unused], high[unused] = -1.0, 1.0
    return low, high


def weights(source: SourceModel) -> WeightSet:
    from ..sources import read_object

    return read_object(source.model)


def check_estimator(model: Any) -> None:
    if not hasattr(model, "get_params"):
        raise UsageError(f"{type(model).__name__} is not a scikit-learn estimator")


CONVERTERS.register(
    "sklearn",
    Converter(
        framework="sklearn",
        library="skl2onnx",
        to_onnx=to_onnx,
        sample_inputs=sample_inputs,
        run=run,
        label_outputs=label_outputs,
        weights=weights,
    ),
)
