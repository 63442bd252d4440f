"""scikit-learn estimators to ONNX through skl2onnx.

- One input called `input`, of what the first step takes (sklearn_inputs.input_kind): a float32
  matrix [None, n_features_in_] (float64 with --double); strings [None, 1] for text vectorizers;
  labels [None] (int64 or strings) for label transformers; floats [None] for IsotonicRegression.
- Opsets: the lowest the converter needs, up to --opset (sklearn_opsets).
- Classifiers give plain tensors `label` and `probabilities` (zipmap off for every classifier in
  the model) unless zipmap is asked for (`output_label`, `output_probability`: a list of dicts).
- The source model's outputs are matched to the ONNX outputs by meaning (sklearn_outputs).
- Check inputs are drawn from the fitted model's own domain (sklearn_inputs, sklearn_domain).
- Converters that are lossy by design (float32 thresholds and bin edges) are named in the notes.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np

from exporter.convert.base import CONVERTERS, Converter, ConvertOptions, InputSpec, SourceModel
from exporter.convert.hgb_patch import hgb_missing_tracks_fix
from exporter.convert.sklearn_inputs import (
    InputKind,
    domain_inputs,
    exact_values,
    first_step,
    input_kind,
)
from exporter.convert.sklearn_opsets import convert_within
from exporter.convert.sklearn_outputs import output_names, source_outputs
from exporter.core.errors import UnsupportedError, UsageError, require
from exporter.core.weightset import WeightSet

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


def _check_converter(part: Any) -> None:
    """The part that takes the input must have a skl2onnx converter (named before anything
    else is asked of it)."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    if type(part).__module__.startswith("sklearn.") and type(part) not in sklearn_operator_name_map:
        name = f"{type(part).__module__}.{type(part).__name__}"
        raise UnsupportedError(
            f"skl2onnx has no converter for {name}; it cannot be converted to ONNX"
        )


def initial_types(kind: InputKind, double: bool) -> list[tuple[str, Any]]:
    """skl2onnx's initial_types for the one input of this kind."""
    from skl2onnx.common import data_types as types

    number = types.DoubleTensorType if double else types.FloatTensorType
    if kind.kind == "text":
        return [(INPUT_NAME, types.StringTensorType([None, 1]))]
    if kind.kind == "labels":
        label = types.StringTensorType if kind.dtype == "string" else types.Int64TensorType
        return [(INPUT_NAME, label([None]))]
    if kind.kind == "one_d":
        return [(INPUT_NAME, number([None]))]
    return [(INPUT_NAME, number([None, kind.width]))]


def to_onnx(source: SourceModel, options: ConvertOptions) -> tuple[Any, list[str]]:
    """The ONNX ModelProto of a fitted estimator, made by skl2onnx.convert_sklearn at the
    lowest opsets it needs (up to options.opset), and notes for the report."""
    est = source.model
    _check_columns(est)
    _check_converter(first_step(est))
    initial = initial_types(input_kind(est), options.double)
    zipmap_off = {id(p): {"zipmap": False} for p in _walk(est) if hasattr(p, "classes_")}
    if hasattr(_final(est), "classes_"):
        zipmap_off[id(est)] = {"zipmap": False}
    settings = {} if options.zipmap else zipmap_off
    try:
        proto, notes = convert_within(
            lambda target: _convert(est, initial, settings, target), options.opset,
            type(est).__name__,
        )  # fmt: skip
        proto = _runnable(proto, est, initial, settings, options, notes)
    except UnsupportedError:
        raise
    except Exception as exc:
        raise _unsupported(est, exc, options) from None
    return proto, notes + lossy_notes(est, options)


def _convert(est: Any, initial: list, settings: dict, target: dict[str, int]) -> Any:
    """convert_sklearn; a part that refuses the zipmap option (LinearSVC) is retried without."""
    skl2onnx = require("skl2onnx", "convert")
    settings = dict(settings)
    for _ in range(len(settings) + 1):
        try:
            with warnings.catch_warnings(), hgb_missing_tracks_fix():
                warnings.simplefilter("ignore", FutureWarning)
                return skl2onnx.convert_sklearn(
                    est, initial_types=initial, options=settings or None, target_opset=target
                )
        except NameError as exc:
            refused = _refuses_zipmap(est, exc)
            if not refused or id(refused) not in settings:
                raise
            del settings[id(refused)]
            if refused is _final(est):
                settings.pop(id(est), None)
    raise RuntimeError("skl2onnx refused the zipmap option of every part")


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


LOCALE_ERROR = "Failed to construct locale"
FALLBACK_LOCALE = "C.UTF-8"


def _runnable(
    proto: Any, est: Any, initial: list, settings: dict, options: ConvertOptions, notes: list
) -> Any:
    """proto, once onnxruntime accepts it. A text normalizer whose default locale (en_US) this
    machine lacks is made again with C.UTF-8 (noted); other refusals name the node."""
    try:
        _session(proto)
        return proto
    except Exception as exc:
        if LOCALE_ERROR not in str(exc):
            raise _not_runnable(proto, est, options, exc) from None
    texts = [p for p in _walk(est) if hasattr(p, "vocabulary_")]
    settings = {**settings, **{id(p): {"locale": FALLBACK_LOCALE} for p in texts}}
    target = {o.domain: o.version for o in proto.opset_import if o.domain in ("", "ai.onnx.ml")}
    proto = _convert(est, initial, settings, target)
    notes.append(
        f"onnxruntime has no en_US locale on this machine: the text normalizer of "
        f"{type(est).__name__} uses {FALLBACK_LOCALE} (lower-casing may differ outside ASCII)"
    )
    try:
        _session(proto)
    except Exception as exc:
        raise _not_runnable(proto, est, options, exc) from None
    return proto


def _session(proto: Any) -> Any:
    ort = require("onnxruntime", "convert")
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _not_runnable(proto: Any, est: Any, options: ConvertOptions, exc: Exception) -> Exception:
    """skl2onnx writes some float64 graphs onnxruntime has no kernels for: name the node."""
    text = str(exc)
    node = re.search(r"node \(([^)]+)\)|node with name '([^']+)'", text)
    name = next((g for g in node.groups() if g), "?") if node else "?"
    ops = [n.op_type for n in proto.graph.node if n.name == name]
    part = f"{ops[0] if ops else 'node'} {name!r}"
    hint = "; convert without --double" if options.double else ""
    return UnsupportedError(
        f"onnxruntime cannot run the ONNX skl2onnx made for {type(est).__name__}: "
        f"{part} is not supported{' in float64' if options.double else ''}{hint}"
    )


LOSSY_PARTS = (  # (attribute, what, does --double run?) checked with skl2onnx 1.20, ORT 1.32
    ("_bin_mapper", "HistGradientBoosting split thresholds", False),  # sklearn trees: float32 too
    ("bin_edges_", "KBinsDiscretizer bin edges", False),
    ("quantiles_", "QuantileTransformer quantiles", True),
)


def lossy_notes(est: Any, options: ConvertOptions) -> list[str]:
    """Say where the conversion is lossy by design (scikit-learn compares in float64 what the
    float32 ONNX compares in float32) and whether --double is a way out."""
    if options.double:
        return []
    found = [(what, double) for attr, what, double in LOSSY_PARTS if _has_part(est, attr)]
    if not found:
        return []
    if all(double for _, double in found):
        way = "convert with --double to compute in float64"
    else:
        stuck = [what for what, double in found if not double]
        way = f"--double does not help: onnxruntime cannot run skl2onnx's float64 {stuck[0]}"
    lossy = ", ".join(what for what, _ in found)
    return [
        f"lossy by design: the ONNX compares in float32 what scikit-learn compares in float64 "
        f"({lossy}): an input next to one can fall on the other side; {way}"
    ]


def _has_part(est: Any, attribute: str) -> bool:
    from exporter.convert.sklearn_domain import all_parts

    return any(hasattr(part, attribute) for part in all_parts(est))


def _sklearn_input(inputs: dict[str, np.ndarray]) -> Any:
    """The one input as scikit-learn takes it: floats widened to float64 (the same values:
    every float32 is exact in float64; some models such as KMeans refuse float32), strings
    and labels as a 1-D array."""
    (array,) = inputs.values()
    array = exact_values(array)
    if array.dtype.kind in "USO" or array.dtype == np.int64:
        return array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    return array.astype(np.float64) if array.dtype == np.float32 else array


def run(
    source: SourceModel, inputs: dict[str, np.ndarray], options: ConvertOptions
) -> dict[str, Any]:
    """The source model's outputs under skl2onnx's output names, by meaning (sklearn_outputs)."""
    X = _sklearn_input(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature-name and deprecation warnings
        return source_outputs(source.model, X, options.zipmap)


def label_outputs(source: SourceModel, options: ConvertOptions) -> set[str]:
    """The outputs holding class (or cluster, or inlier/outlier) labels."""
    names = output_names(source.model, options.zipmap)
    return {names[0]} if len(names) == 2 else set()


def sample_inputs(
    source: SourceModel, specs: list[InputSpec], rng: np.random.Generator, samples: int
) -> dict[str, np.ndarray]:
    """Seeded check inputs drawn from the fitted model's own domain (sklearn_inputs): at least
    sklearn_inputs.MIN_ROWS rows whatever `samples` asks for less, except for an ONNX input
    of a fixed batch size, which gets exactly that many rows (spread over the draw)."""
    (spec,) = specs
    rows = domain_inputs(source.model, input_kind(source.model), spec.dtype, rng, samples)
    if spec.shape and isinstance(spec.shape[0], int) and spec.shape[0] != len(rows):
        rows = rows[np.sort(rng.choice(len(rows), spec.shape[0], replace=False))]
    if len(spec.shape) == 2 and rows.ndim == 1 and spec.shape[1] == 1:
        rows = rows.reshape(-1, 1)
    return {spec.name: rows}


def weights(source: SourceModel) -> WeightSet:
    from exporter.models.sklearn.api import weightset_from_estimator

    return weightset_from_estimator(source.model)


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
