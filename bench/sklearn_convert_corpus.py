"""`exporter convert` against skl2onnx + onnxruntime used directly, on every estimator of
scikit-learn's `all_estimators()` plus a few pipelines and meta-estimators (issue #13).

Each estimator is built as scikit-learn's own test suite builds it (`_construct_instances`), fitted
on small bundled data that suits its input (iris, diabetes, text, categories, 1-D, labels), then:

- direct: what a user does by hand: `skl2onnx.to_onnx(model, X)` with the defaults (zipmap off for
  classifiers), onnxruntime on the training data, its first output compared with predict() (or
  transform()): labels equal, values within atol 1e-4 + rtol 1e-3 (float32);
- exporter: `exporter convert model.pkl --trust -o model.onnx --opset 22` (the CLI, in-process),
  exit code and error line.

    .venv/bin/python bench/sklearn_convert_corpus.py            # the whole table
    .venv/bin/python bench/sklearn_convert_corpus.py SVC Ridge  # some rows

Prints one row per estimator and the totals. tests/test_sklearn_convert_corpus.py runs a subset.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import pickle
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

MAX_OPSET = 22  # skl2onnx 1.20's newest tested opset: what it uses by default
ATOL, RTOL = 1e-4, 1e-3
SKIP = {  # not estimators one converts: abstract helpers, or nothing to fit on bundled data
    "FrozenEstimator",  # wraps another fitted estimator: covered by its inner estimator
}
WORDS = [
    "red",
    "green",
    "blue",
    "cat",
    "dog",
    "fish",
    "runs",
    "jumps",
    "sleeps",
    "quick",
    "slow",
    "happy",
    "sad",
    "big",
    "small",
    "tree",
    "river",
    "stone",
    "cloud",
    "rain",
    "sun",
    "moon",
    "star",
    "light",
    "dark",
]


@dataclasses.dataclass
class Entry:
    """One corpus row: how to make the unfitted estimator and which data it takes."""

    name: str
    make: Callable[[], Any]
    data: str = "auto"


@dataclasses.dataclass
class Outcome:
    """How one path did: code 0 ok, 1 check failed, 2/3 refused, 4 internal error."""

    code: int
    reason: str = ""


@functools.cache
def datasets() -> dict[str, tuple[Any, Any]]:
    """name -> (X, y): the small bundled data sets the corpus fits on."""
    from sklearn.datasets import load_diabetes, load_iris

    Xi, yi = load_iris(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd, yd = Xd[:200], yd[:200]
    rng = np.random.default_rng(0)
    texts = np.array([" ".join(rng.choice(WORDS, 6)) for _ in range(120)])
    return {
        "classifier": (Xi, yi),
        "binary": (Xi, (yi == 2).astype(np.int64)),
        "regressor": (Xd, yd),
        "multi_regressor": (Xd, np.stack([yd, yd[::-1]], axis=1)),
        "multi_classifier": (Xi, np.stack([yi, (yi == 0).astype(np.int64)], axis=1)),
        "categorical": (np.round(Xi), yi),
        "text": (texts, (np.char.find(texts, "cat") >= 0).astype(np.int64)),
        "dict": ([{WORDS[j]: float(v) for j, v in enumerate(row)} for row in Xi], yi),
        "one_d": (Xd[:, 2], yd),
        "labels": (yi, None),
        "label_sets": ([tuple(WORDS[: 1 + k % 3]) for k in range(30)], None),
        "images": (rng.uniform(size=(4, 8, 8)), None),
    }


def data_kind(est: Any) -> str:
    """Which data set suits est, from its scikit-learn tags."""
    from sklearn.utils import get_tags

    tags = get_tags(est)
    inputs, target = tags.input_tags, tags.target_tags
    kinds = [
        (inputs.string and not inputs.two_d_array, "text"),
        (inputs.dict, "dict"),
        (inputs.three_d_array, "images"),
        (inputs.one_d_array and not inputs.two_d_array, "one_d"),
        (target.one_d_labels, "labels"),
        (target.two_d_labels, "label_sets"),
        (inputs.categorical, "categorical"),
        (target.required and not target.single_output, f"multi_{tags.estimator_type}"),
    ]
    found = [kind for flag, kind in kinds if flag]
    if found:
        return found[0]
    if tags.classifier_tags is not None and not tags.classifier_tags.multi_class:
        return "binary"
    if tags.estimator_type == "classifier" or inputs.positive_only:
        return "classifier"
    return "regressor"


def _instance(cls: type) -> Any:
    from sklearn.utils._test_common.instance_generator import _construct_instances

    try:
        return next(_construct_instances(cls))
    except Exception:
        return cls()


def _extras() -> list[Entry]:
    """Pipelines and meta-estimators named in issue #13, and binary linear classifiers."""
    from sklearn import (
        calibration,
        compose,
        ensemble,
        linear_model,
        model_selection,
        neighbors,
        pipeline,
        svm,
    )
    from sklearn import preprocessing as pre

    def stacking():
        parts = [
            ("ridge", linear_model.Ridge()),
            ("forest", ensemble.RandomForestRegressor(n_estimators=10, random_state=0)),
            ("svr", svm.SVR()),
        ]
        return ensemble.StackingRegressor(parts, final_estimator=linear_model.RidgeCV())

    def voting():
        forest = ensemble.RandomForestRegressor(n_estimators=10, random_state=0)
        return ensemble.VotingRegressor([("ridge", linear_model.Ridge()), ("forest", forest)])

    def column_onehot():
        columns = compose.ColumnTransformer(
            [("cat", pre.OneHotEncoder(handle_unknown="ignore"), [0, 1]),
             ("num", pre.StandardScaler(), [2, 3])]
        )  # fmt: skip
        return pipeline.make_pipeline(columns, linear_model.LogisticRegression(max_iter=500))

    def calibrated_forest():
        forest = ensemble.RandomForestClassifier(n_estimators=10, random_state=0)
        return calibration.CalibratedClassifierCV(forest, method="isotonic", cv=3)

    return [
        Entry(
            "KBinsDiscretizer(ordinal)", lambda: pre.KBinsDiscretizer(encode="ordinal"), "regressor"
        ),
        Entry(
            "QuantileTransformer(100)",
            lambda: pre.QuantileTransformer(n_quantiles=100),
            "regressor",
        ),
        Entry(
            "LocalOutlierFactor(novelty)",
            lambda: neighbors.LocalOutlierFactor(novelty=True),
            "regressor",
        ),
        Entry("StackingRegressor(Ridge,RF,SVR->RidgeCV)", stacking, "regressor"),
        Entry("VotingRegressor(Ridge,RF)", voting, "regressor"),
        Entry(
            "TunedThresholdClassifierCV(LogReg)",
            lambda: model_selection.TunedThresholdClassifierCV(
                linear_model.LogisticRegression(), scoring="balanced_accuracy"
            ),
            "binary",
        ),
        Entry(
            "Pipeline(StandardScaler,LogReg)",
            lambda: pipeline.make_pipeline(pre.StandardScaler(), linear_model.LogisticRegression()),
            "classifier",
        ),
        Entry("Pipeline(ColumnTransformer(OneHot,Scaler),LogReg)", column_onehot, "categorical"),
        Entry("CalibratedClassifierCV(RF,isotonic)", calibrated_forest, "classifier"),
        Entry(
            "SGDClassifier(hinge,binary)",
            lambda: linear_model.SGDClassifier(random_state=0),
            "binary",
        ),
        Entry("Perceptron(binary)", lambda: linear_model.Perceptron(random_state=0), "binary"),
        Entry(
            "PassiveAggressiveClassifier(binary)",
            lambda: linear_model.PassiveAggressiveClassifier(random_state=0),
            "binary",
        ),
        Entry("SVC(binary)", lambda: svm.SVC(), "binary"),
        Entry(
            "OneHotEncoder(dense)",
            lambda: pre.OneHotEncoder(sparse_output=False, handle_unknown="ignore"),
            "categorical",
        ),
    ]


def corpus(names: list[str] | None = None) -> list[Entry]:
    """Every estimator of all_estimators() (minus SKIP) and the extras, optionally filtered."""
    from sklearn.utils import all_estimators

    entries = [
        Entry(name, functools.partial(_instance, cls))
        for name, cls in all_estimators()
        if name not in SKIP
    ]
    entries += _extras()
    if names:
        entries = [e for e in entries if e.name in names or e.name.split("(")[0] in names]
    return entries


def fit(entry: Entry) -> tuple[Any, Any]:
    """The fitted estimator of entry and the data it was fitted on (X)."""
    est = entry.make()
    if hasattr(est, "random_state") and "random_state" in est.get_params(deep=False):
        with contextlib.suppress(Exception):
            est.set_params(random_state=0)
    kind = data_kind(est) if entry.data == "auto" else entry.data
    X, y = datasets()[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind in ("labels", "label_sets"):
            est.fit(X)
        else:
            try:
                est.fit(X, y)
            except TypeError:
                est.fit(X)
    return est, X


def _typed(X: Any) -> Any:
    """X as a user hands it to skl2onnx: float32 numbers, strings as a column."""
    array = np.asarray(X)
    if array.dtype.kind in "US":
        return array.reshape(-1, 1) if array.ndim == 1 else array
    if array.dtype.kind == "i":
        return array.astype(np.int64)
    return array.astype(np.float32)


def expected_outputs(est: Any, X: Any) -> list[np.ndarray]:
    """predict(X) and transform(X) (those est has), dense: what a user compares with."""
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in ("predict", "transform"):
            if hasattr(est, method):
                values = getattr(est, method)(X)
                found.append(np.asarray(values.toarray() if hasattr(values, "toarray") else values))
    return found


def _to_onnx(est: Any, typed: Any, options: Any) -> Any:
    """skl2onnx.to_onnx as a user calls it, following what its errors ask for (a classifier
    without the zipmap option; the ai.onnx.ml opset it names)."""
    from skl2onnx import to_onnx

    try:
        return to_onnx(est, typed[:1], options=options)
    except NameError:  # this classifier has no zipmap option
        return to_onnx(est, typed[:1])
    except RuntimeError as exc:
        named = re.search(r"target_opset=\{'ai\.onnx\.ml': (\d+)\}", str(exc))
        if not named:
            raise
        target = {"": MAX_OPSET, "ai.onnx.ml": int(named.group(1))}
        return to_onnx(est, typed[:1], options=options, target_opset=target)


def direct(est: Any, X: Any) -> Outcome:
    """skl2onnx.to_onnx with its defaults (zipmap off), onnxruntime on X, first output vs
    predict() or transform()."""
    import onnxruntime as ort
    from sklearn.base import is_classifier

    options = {id(est): {"zipmap": False}} if is_classifier(est) else None
    try:
        typed = _typed(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proto = _to_onnx(est, typed, options)
            session = ort.InferenceSession(proto.SerializeToString())
            name = session.get_inputs()[0].name
            got = np.asarray(session.run(None, {name: typed})[0])
        wanted = expected_outputs(est, X)
    except Exception as exc:
        return Outcome(3, f"{type(exc).__name__}: {_first_line(exc)}")
    outcomes = [_compare_direct(want, got) for want in wanted]
    return min(outcomes, key=lambda o: o.code) if outcomes else Outcome(3, "no predict/transform")


def _compare_direct(want: np.ndarray, got: np.ndarray) -> Outcome:
    if want.size != got.size:
        return Outcome(1, f"shape {list(got.shape)}, expected {list(want.shape)}")
    want, got = want.reshape(-1), got.reshape(-1)
    if want.dtype.kind not in "fc" or got.dtype.kind not in "fc":
        wrong = int(np.count_nonzero(want.astype(str) != got.astype(str)))
        if want.dtype.kind in "biu" and got.dtype.kind in "biuf":
            wrong = int(np.count_nonzero(want != got))
        return Outcome(0) if wrong == 0 else Outcome(1, f"{wrong} of {want.size} labels differ")
    error = np.abs(got.astype(np.float64) - want)
    bad = ~(error <= ATOL + RTOL * np.abs(want)) & ~(np.isnan(want) & np.isnan(got))
    if bad.any():
        return Outcome(1, f"max abs error {np.nanmax(error):.3g}")
    return Outcome(0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def exporter(est: Any, folder: Path, name: str, *extra: str) -> Outcome:
    """`exporter convert <pickle> --trust -o <onnx> --opset 22` in-process: exit code and the
    error (or first failed check) line."""
    from typer.testing import CliRunner

    from exporter.cli.app import app
    from exporter.cli.common import State

    stem = "".join(c if c.isalnum() else "_" for c in name)
    model, out = folder / f"{stem}.pkl", folder / f"{stem}.onnx"
    report = out.with_suffix(".json")
    model.write_bytes(pickle.dumps(est))
    args = ["convert", str(model), "--trust", "-o", str(out), "--opset", str(MAX_OPSET)]
    args += ["--report", str(report), "--force", *extra]
    State.debug = State.quiet = False
    result = CliRunner().invoke(app, args)
    if result.exit_code == 1 and report.exists():
        return Outcome(1, _failed_checks(json.loads(report.read_text())))
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("exporter: error")]
    reason = lines[-1] if lines else ""
    if result.exit_code not in (0, 1, 2, 3):
        reason = f"{type(result.exception).__name__}: {result.exception}"
    return Outcome(result.exit_code, reason[:200])


def _failed_checks(document: dict) -> str:
    rows = document["validation"].get("outputs", [])
    return "; ".join(f"{r['name']}: {r['problem']}" for r in rows if not r["ok"])[:200]


def compare_one(entry: Entry, folder: Path) -> tuple[Outcome, Outcome, float]:
    """(direct, exporter, seconds) for one corpus entry; a fit failure counts for neither."""
    start = time.perf_counter()
    try:
        est, X = fit(entry)
    except Exception as exc:
        failed = Outcome(-1, f"cannot fit: {type(exc).__name__}: {_first_line(exc)}")
        return failed, failed, time.perf_counter() - start
    return direct(est, X), exporter(est, folder, entry.name), time.perf_counter() - start


def main(argv: list[str]) -> int:
    """Print the table: estimator, direct, exporter, reasons; then the totals."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in corpus(argv or None):
            d, e, seconds = compare_one(entry, Path(tmp))
            rows.append((entry.name, d, e))
            mark = "  " if (d.code == 0) <= (e.code == 0) else "!!"
            print(
                f"{mark} {entry.name:52} direct={d.code:>2} exporter={e.code:>2} "
                f"{seconds:5.1f}s  {d.reason[:70]} | {e.reason[:110]}",
                flush=True,
            )
    fitted = [r for r in rows if r[1].code >= 0]
    both = sum(d.code == 0 and e.code == 0 for _, d, e in fitted)
    print(
        f"\n{len(rows)} entries, {len(fitted)} fitted; direct passes {sum(d.code == 0 for _, d, _ in fitted)}, "
        f"exporter passes {sum(e.code == 0 for _, _, e in fitted)}, both {both}; "
        f"direct-only {sum(d.code == 0 and e.code != 0 for _, d, e in fitted)}; "
        f"exporter internal errors {sum(e.code == 4 for _, _, e in fitted)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
