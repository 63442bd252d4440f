"""Index checks on the compiled structures of skops-loaded models (issue #12 follow-up).

The crafted files are real skops dumps whose `.npy` members (trees' node arrays, a
TreePredictor's nodes, an SVC's support counts) were edited. For each: without the check the
crafted file loads and scikit-learn's compiled `predict` (what `convert` and `verify` run)
crashes with a signal, hangs, or reads memory outside the arrays (run in a subprocess, bounded
in time); with check_structures it is refused, one line, naming the estimator path and field.
Positive controls: every tree, ensemble, neighbors and SVM estimator in scikit-learn, fitted
and round-tripped through skops, passes, and a 500-tree forest is checked in well under 1 s.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exporter.core.errors import UnsafeInputError
from exporter.models.sklearn.checks import check_structures

RNG = np.random.RandomState(0)
X = RNG.rand(120, 4)
Y2 = (X[:, 0] + X[:, 1] > 1).astype(int)
Y3 = np.minimum((X[:, 0] * 3).astype(int), 2)
YR = X @ [1.0, 2.0, 3.0, 4.0]


# ---------------------------------------------------------------- crafting skops files


def _dump(model, path: Path) -> Path:
    import skops.io as sio

    sio.dump(model, path)
    return path


def _nodes_of(schema, cls: str) -> list[dict]:
    """Every schema node of class cls (skops: `__class__`), in document order."""
    found, todo = [], [schema]
    while todo:
        item = todo.pop(0)
        if isinstance(item, dict):
            if item.get("__class__") == cls:
                found.append(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def _craft(path: Path, cls: str, field: str, edit, which: int = 0) -> Path:
    """path rewritten with the array `field` of the which-th `cls` node passed through edit."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    node = _nodes_of(schema, cls)[which]
    member = node["content"]["content"][field]["file"]
    array = np.load(io.BytesIO(members[member]), allow_pickle=False)
    edited = io.BytesIO()
    np.save(edited, edit(array.copy()), allow_pickle=False)
    members[member] = edited.getvalue()
    out = path.with_name(f"crafted_{path.name}")
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _set(field: str, index: int, value):
    def edit(nodes):
        nodes[field][index] = value
        return nodes

    return edit


def _shift_support(counts):
    """Class counts with the same sum, the first far past the support vectors."""
    counts = counts.copy()
    counts[0] += 1 << 24
    counts[1] -= 1 << 24
    return counts


def _load(path: Path):
    """What skops builds from the file (every name in it is one exporter's audit trusts)."""
    import skops.io as sio

    return sio.load(path, trusted=sio.get_untrusted_types(file=str(path)))


PREDICT = """
import sys, numpy as np, skops.io as sio
path = sys.argv[1]
model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
x = np.random.RandomState(0).rand(120, 4)
sys.stdout.write(repr(np.asarray(getattr(model, sys.argv[2])(x)).tolist()))
"""


def _predict_in_subprocess(path: Path, method: str = "predict") -> tuple[str, str]:
    """('signal' | 'hang' | 'error' | 'ok', output) of method on the loaded model, run
    in its own process for at most 20 s."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", PREDICT, str(path), method],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return "hang", ""
    if done.returncode < 0:
        return "signal", str(-done.returncode)
    return ("ok" if done.returncode == 0 else "error"), done.stdout or done.stderr[-300:]


def _refused(path: Path, pattern: str) -> None:
    with pytest.raises(UnsafeInputError, match=pattern) as info:
        check_structures(_load(path), str(path))
    message = str(info.value)
    assert "\n" not in message and path.name in message and "refused" in message


# ---------------------------------------------------------------- the crafted files


def _tree_file(folder: Path, depth: int | None = 4) -> Path:
    from sklearn.tree import DecisionTreeClassifier

    return _dump(
        DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, Y2), folder / "t.skops"
    )


def _forest_file(folder: Path) -> Path:
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X, YR)
    return _dump(forest, folder / "f.skops")


def _hgb_file(folder: Path) -> Path:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return _dump(HistGradientBoostingRegressor(max_iter=3).fit(X, YR), folder / "h.skops")


def _svc_file(folder: Path) -> Path:
    from sklearn.svm import SVC

    return _dump(SVC().fit(X, Y3), folder / "s.skops")


CRAFTED = {
    # name: (sound file, class, field, edit, refusal pattern, what predict does without the check)
    "tree-child-out-of-range": (_tree_file, "Tree", "nodes", _set("left_child", 0, 1 << 40),
                                r"tree_ .*children_left/right hold an index outside"),
    "tree-feature-out-of-range": (_tree_file, "Tree", "nodes", _set("feature", 0, 1 << 40),
                                  r"tree_ .*feature holds an index outside \[0, 4\)"),
    "tree-cycle": (_tree_file, "Tree", "nodes", _set("left_child", 1, 0), r"a cycle"),
    "forest-member-child": (_forest_file, "Tree", "nodes", _set("right_child", 0, -7),
                            r"estimators_/2/tree_ .*children_left/right"),
    "predictor-child-out-of-range": (_hgb_file, "TreePredictor", "nodes",
                                     _set("left", 0, (1 << 32) - 1),
                                     r"_predictors\[0\]\[0\]: nodes left/right hold an index"),
    "predictor-feature-out-of-range": (_hgb_file, "TreePredictor", "nodes",
                                       _set("feature_idx", 0, 1 << 40), r"feature_idx"),
    # scikit-learn checks sum(n_support) == support vectors (CVE-2020-28975), not the signs
    "svc-n-support": (_svc_file, "SVC", "_n_support", _shift_support,
                      r"_n_support .* does not add up"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_structure_misbehaves_without_the_check_and_is_refused(name, tmp_path):
    sound_file, cls, field, edit, pattern = CRAFTED[name]
    sound = sound_file(tmp_path)
    which = 2 if name.startswith("forest") else 0
    crafted = _craft(sound, cls, field, edit, which)
    assert _predict_in_subprocess(sound)[0] == "ok"  # positive control
    check_structures(_load(sound), str(sound))
    outcome, detail = _predict_in_subprocess(crafted)
    reference = _predict_in_subprocess(sound)[1]
    assert outcome in ("signal", "hang") or (outcome == "ok" and detail != reference), (
        outcome,
        detail[:300],
    )
    _refused(crafted, pattern)


def test_a_max_depth_below_the_real_depth_is_refused(tmp_path):
    """decision_path allocates n_samples * (1 + max_depth) slots and writes one per node."""
    sound = _tree_file(tmp_path, depth=None)
    crafted = tmp_path / "shallow.skops"
    with zipfile.ZipFile(sound) as archive:
        schema = json.loads(archive.read("schema.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
    depth = _nodes_of(schema, "Tree")[0]["content"]["content"]["max_depth"]
    depth["content"], depth["__id__"] = "0", 1
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(crafted, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    _refused(crafted, r"max_depth 0 is below the tree's depth")


def test_a_predictor_categorical_split_needs_a_bitset_row(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    x = X.copy()
    x[:, 3] = RNG.randint(0, 5, len(x))
    model = HistGradientBoostingClassifier(max_iter=3, categorical_features=[3]).fit(x, Y2)
    sound = _dump(model, tmp_path / "cat.skops")
    check_structures(_load(sound), str(sound))

    def numeric_split_made_categorical(nodes):
        inner = np.flatnonzero(nodes["is_leaf"] == 0)[0]
        nodes["is_categorical"][inner], nodes["bitset_idx"][inner] = 1, 1 << 20
        return nodes

    crafted = _craft(sound, "TreePredictor", "nodes", numeric_split_made_categorical)
    _refused(crafted, r"categorical|bitset_idx")


def test_a_kd_tree_index_outside_the_data_is_refused(tmp_path):
    from sklearn.neighbors import KNeighborsRegressor

    sound = _dump(KNeighborsRegressor(algorithm="kd_tree").fit(X, YR), tmp_path / "k.skops")
    check_structures(_load(sound), str(sound))
    model = _load(sound)
    state = list(model._tree.__getstate__())
    state[1] = state[1].copy()
    state[1][0] = 1 << 30  # idx_array: the row a neighbor query reads
    model._tree.__setstate__(tuple(state))
    with pytest.raises(UnsafeInputError, match=r"_tree .*idx_array is not a permutation"):
        check_structures(model, "k.skops")


def test_a_sparse_matrix_with_indices_outside_its_shape_is_refused():
    import scipy.sparse as sp
    from sklearn.svm import SVR

    model = SVR().fit(sp.csr_matrix(X), YR)
    check_structures(model, "m.skops")
    model.support_vectors_.indices[0] = 1 << 20
    with pytest.raises(UnsafeInputError, match=r"support_vectors_ .*indices must be <"):
        check_structures(model, "m.skops")


def test_ensembles_must_give_members_the_columns_they_read():
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, Y2)
    forest.estimators_[1].n_features_in_ = 9
    forest.estimators_[1].tree_  # noqa: B018 - the tree itself is sound
    with pytest.raises(UnsafeInputError, match=r"estimators_\[1\] reads 9 features"):
        check_structures(forest, "f.skops")
    boosted = GradientBoostingClassifier(n_estimators=2).fit(X, Y3)
    boosted.init_.classes_ = boosted.init_.classes_[:2]
    with pytest.raises(UnsafeInputError, match=r"init_ predicts fewer than the 3 columns"):
        check_structures(boosted, "g.skops")


# ---------------------------------------------------------------- positive controls


def _corpus():
    """Every tree, ensemble, neighbors and SVM estimator, fitted on 2-class, 3-class and
    regression targets where it accepts them, plus meta-estimators and pipelines of them."""
    from sklearn.ensemble import (
        BaggingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        StackingRegressor,
        VotingClassifier,
    )
    from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeRegressor
    from sklearn.utils import all_estimators

    families = ("sklearn.tree", "sklearn.ensemble", "sklearn.neighbors", "sklearn.svm")
    for name, cls in all_estimators():
        if not cls.__module__.startswith(families):
            continue
        for target in (Y2, Y3, YR):
            try:
                yield name, cls().fit(X, target)
            except Exception:  # needs other arguments or another kind of target
                continue
    x_cat = X.copy()
    x_cat[:, 3] = RNG.randint(0, 6, len(X))
    yield "hgb-categorical", HistGradientBoostingClassifier(categorical_features=[3]).fit(x_cat, Y3)
    yield "bagging-features", BaggingClassifier(max_features=2, random_state=0).fit(X, Y2)
    yield "isolation-features", IsolationForest(max_features=2, random_state=0).fit(X)
    for algorithm in ("kd_tree", "ball_tree", "brute"):
        yield algorithm, KNeighborsClassifier(algorithm=algorithm).fit(X, Y3)
        yield f"nn-{algorithm}", NearestNeighbors(algorithm=algorithm).fit(X)
    yield "svc-precomputed", SVC(kernel="precomputed").fit(X @ X.T, Y3)
    yield "svc-proba", SVC(probability=True, random_state=0).fit(X, Y3)
    import scipy.sparse as sp

    yield "svr-sparse", SVR().fit(sp.csr_matrix(X), YR)
    yield "voting", VotingClassifier([("t", DecisionTreeClassifier()), ("s", SVC())]).fit(X, Y3)
    yield "stacking", StackingRegressor([("e", ExtraTreeRegressor()), ("s", SVR())]).fit(X, YR)
    yield "pipeline", make_pipeline(StandardScaler(), VotingClassifier(
        [("k", KNeighborsClassifier(algorithm="kd_tree")),
         ("h", HistGradientBoostingClassifier(max_iter=5))])).fit(X, Y2)  # fmt: skip


@pytest.fixture(scope="module")
def corpus():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(_corpus())


def test_every_real_tree_neighbors_and_svm_model_passes(corpus):
    assert len(corpus) > 100
    for name, model in corpus:
        check_structures(model, name)


def test_real_models_pass_after_a_skops_round_trip(corpus, tmp_path):
    """What the loader checks: the estimator skops built (sample: every family once)."""
    seen: set[str] = set()
    for name, model in corpus:
        family = type(model).__module__.split(".")[1]
        if (family, type(model).__name__) in seen:
            continue
        seen.add((family, type(model).__name__))
        path = _dump(model, tmp_path / f"{len(seen)}.skops")
        check_structures(_load(path), name)


def test_sklearn_trees_number_children_after_their_parent(corpus):
    """The invariant the cycle check relies on holds for every real tree (depth- and
    best-first builders alike)."""
    trees = 0
    for _, model in corpus:
        for est in np.ravel(getattr(model, "estimators_", [model])):
            tree = getattr(est, "tree_", None)
            if type(tree).__name__ != "Tree":
                continue
            inner = np.flatnonzero(tree.children_left >= 0)
            assert (tree.children_left[inner] > inner).all()
            assert (tree.children_right[inner] > inner).all()
            trees += 1
    assert trees > 500


def test_a_500_tree_forest_is_checked_fast():
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=500, random_state=0, n_jobs=1)
    forest.fit(np.vstack([X] * 4), np.concatenate([Y3] * 4))
    start = time.perf_counter()
    check_structures(forest, "forest.skops")
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------- through the command line


@pytest.fixture
def wired(monkeypatch):
    """The loader with check_structures called right after skops builds the estimator (the
    line exporter/models/sklearn/files.py _load_skops gains)."""
    from exporter.models.sklearn import files as sklearn_files

    original = sklearn_files._skops_load

    def load_and_check(sio, path, handle, accepted):
        estimator = original(sio, path, handle, accepted)
        check_structures(estimator, str(path))
        return estimator

    monkeypatch.setattr(sklearn_files, "_skops_load", load_and_check)


@pytest.mark.parametrize("command", ["inspect", "export", "convert"])
def test_the_cli_refuses_a_crafted_tree_in_one_line_and_writes_nothing(
    command, tmp_path, cli, wired
):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    sound = _forest_file(tmp_path / "in")
    crafted = _craft(sound, "Tree", "nodes", _set("feature", 0, 1 << 40), which=1)
    out = tmp_path / "out" / ("m.onnx" if command == "convert" else "m.npz")
    before = None
    for path, code in ((sound, 0), (crafted, 3)):
        args = [command, path] + ([] if command == "inspect" else ["-o", out, "--force"])
        result = cli(*args)
        assert result.exit_code == code, result
        before = before or (out.read_bytes() if out.exists() else b"")
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result
    assert crafted.name in lines[0] and "estimators_/1/tree_" in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    if command != "inspect":  # the sound run's output, untouched
        assert [p.name for p in out.parent.iterdir()] == [out.name]
        assert out.read_bytes() == before


# ---------------------------------------------------------------- red team round 2: predict-time
# I/O, file-chosen calls, distance metrics and splines. Each file passes the skops audit (every
# name in it is trusted); without check_structures, `verify`/`convert` running the model would
# read a file it names, hang on a FIFO, or crash with a heap overflow / out-of-bounds read.

RUN = """
import sys, numpy as np, skops.io as sio
path, method, rows = sys.argv[1], sys.argv[2], sys.argv[3:]
model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
x = rows or np.random.RandomState(0).rand(100, model.n_features_in_)
out = getattr(model, method)(x)
out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
sys.stdout.write(repr(float(np.nansum(out))))
"""


def _run(path: Path, method: str, *rows: str, timeout: float = 30) -> tuple[str, str]:
    """('signal' | 'hang' | 'error' | 'ok', detail) of method on the model skops loads from
    path (no exporter check), in its own process for at most timeout seconds."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(path), method, *rows],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "hang", ""
    if done.returncode < 0:
        return "signal", str(-done.returncode)
    return ("ok" if done.returncode == 0 else "error"), done.stdout or done.stderr[-300:]


def _knn_tree_metric_file(folder: Path, sound: bool = False) -> Path:
    """KNN on 2000 columns whose ball tree measures with a 1x1 Mahalanobis VI (rdist writes
    2000 doubles into a 1-slot buffer)."""
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import BallTree, KNeighborsClassifier

    width = 2000
    x = RNG.rand(20, width)
    model = KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree", metric="mahalanobis",
                                 metric_params={"VI": np.eye(width)}).fit(x, x[:, 0] > 0.5)  # fmt: skip
    if not sound:
        state = list(model._tree.__getstate__())
        state[11] = DistanceMetric.get_metric("mahalanobis", VI=np.eye(1))
        tree = BallTree.__new__(BallTree)
        tree.__setstate__(tuple(state))
        model._tree = tree
    return _dump(model, folder / "knn_metric.skops")


def _knn_brute_params_file(folder: Path, sound: bool = False) -> Path:
    """Brute-force KNN whose effective_metric_params_ VI is 1x1 for 2000 columns."""
    from sklearn.neighbors import KNeighborsClassifier

    width = 2000
    x = RNG.rand(20, width)
    model = KNeighborsClassifier(n_neighbors=3, algorithm="brute", metric="mahalanobis",
                                 metric_params={"VI": np.eye(width)}).fit(x, x[:, 0] > 0.5)  # fmt: skip
    if not sound:
        model.metric_params = model.effective_metric_params_ = {"VI": np.eye(1)}
    return _dump(model, folder / "knn_params.skops")


def _function_file(folder: Path, sound: bool = False) -> Path:
    """FunctionTransformer calling a trusted-for-reference k-means run with arrays from the file
    sized for 1 column (its Cython loops write past them for 512-column input)."""
    from sklearn.cluster._kmeans import _kmeans_single_lloyd
    from sklearn.preprocessing import FunctionTransformer

    func = np.log1p if sound else _kmeans_single_lloyd
    kw = None if sound else {"sample_weight": np.ones(1), "centers_init": np.zeros((2, 1)),
                             "max_iter": 3, "n_threads": 1}  # fmt: skip
    model = FunctionTransformer(func=func, kw_args=kw, validate=False).fit(np.zeros((3, 512)))
    return _dump(model, folder / "function.skops")


def _vectorizer_file(folder: Path, sound: bool = False) -> Path:
    """CountVectorizer(input='filename'): transform opens each row as a file name."""
    from sklearn.feature_extraction.text import CountVectorizer

    model = CountVectorizer(token_pattern=r"\S+").fit(["alpha topsecret", "bravo"])
    model.input = "content" if sound else "filename"
    return _dump(model, folder / "vectorizer.skops")


def _spline_file(folder: Path, sound: bool = False) -> Path:
    """SplineTransformer whose BSpline has 1 coefficient row for 500,000 knots."""
    from sklearn.preprocessing import SplineTransformer

    model = SplineTransformer(n_knots=10, degree=3).fit(np.linspace(0, 1, 50)[:, None])
    spline = model.bsplines_[0]
    if not sound:
        spline.c = np.ones((1, spline.c.shape[1]))
        spline.t = np.concatenate([spline.t[:1], np.linspace(0, 1, 500_000), spline.t[-1:]])
    return _dump(model, folder / "spline.skops")


PREDICT_TIME = {
    # name: (builder, method, refusal pattern)
    "knn-tree-metric": (_knn_tree_metric_file, "predict",
                        r"_tree \(BallTree\) metric MahalanobisDistance64 has parameters"),
    "knn-metric-params": (_knn_brute_params_file, "predict",
                          r"metric_params\['VI'\] of shape \(1, 1\) for 2000"),
    "function-call": (_function_file, "transform",
                      r"func holds the function sklearn.cluster._kmeans._kmeans_single_lloyd"),
    "vectorizer-filename": (_vectorizer_file, "transform", r"input='filename'"),
    "spline-coefficients": (_spline_file, "transform",
                            r"bsplines_/0 \(BSpline\) has 1 coefficient rows for 500002 knots"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(set(PREDICT_TIME) - {"vectorizer-filename"}))
def test_a_predict_time_crash_happens_without_the_check_and_is_refused(name, tmp_path):
    build, method, pattern = PREDICT_TIME[name]
    (tmp_path / "sound").mkdir()
    sound = build(tmp_path / "sound", sound=True)
    assert _run(sound, method)[0] == "ok"  # positive control
    check_structures(_load(sound), str(sound))
    crafted = build(tmp_path)
    assert _run(crafted, method)[0] == "signal"  # heap overflow / out-of-bounds read
    _refused(crafted, pattern)


def test_a_vectorizer_reads_files_and_hangs_on_a_fifo_without_the_check(tmp_path):
    import os

    secret = tmp_path / "secret.txt"
    secret.write_text("alpha topsecret topsecret")
    sound = _vectorizer_file(tmp_path, sound=True)
    assert _run(sound, "transform", str(secret)) == ("ok", "0.0")  # the name, as text
    check_structures(_load(sound), str(sound))
    crafted = _vectorizer_file(tmp_path)
    assert _run(crafted, "transform", str(secret)) == ("ok", "3.0")  # the file's words
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _run(crafted, "transform", str(fifo), timeout=5)[0] == "hang"
    _refused(crafted, PREDICT_TIME["vectorizer-filename"][2])


@pytest.mark.parametrize("command", ["verify", "convert"])
def test_verify_and_convert_refuse_before_running_the_model(command, tmp_path):
    """The red team's commands, run as a real process (a crash must not take pytest down):
    exit 3, one line naming the file, nothing written."""
    (tmp_path / "out").mkdir()
    crafted = _function_file(tmp_path)
    onnx_path = tmp_path / "identity.onnx"
    _identity_onnx(onnx_path, 512)
    out = tmp_path / "out" / "m.onnx"
    args = [crafted, onnx_path] if command == "verify" else [crafted, "-o", out]
    done = subprocess.run([sys.executable, "-m", "exporter", command, *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 3, (done.returncode, done.stderr[-500:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), done.stderr
    assert crafted.name in lines[0] and "_kmeans_single_lloyd" in lines[0]
    assert "Traceback" not in done.stderr and list((tmp_path / "out").iterdir()) == []


def _identity_onnx(path: Path, width: int) -> None:
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info
    graph = helper.make_graph([helper.make_node("Identity", ["X"], ["variable"])], "g",
                              [value("X", TensorProto.DOUBLE, [None, width])],
                              [value("variable", TensorProto.DOUBLE, [None, width])])  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


# ---------------------------------------------------------------- the rule, case by case


def _callables():
    """(name, model, refused pattern or None) for predict-time callables and fit-only ones."""
    import functools

    from sklearn.cluster import BisectingKMeans, FeatureAgglomeration
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.gaussian_process.kernels import RBF
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm import SVC

    def dist(a, b):
        return float(np.abs(a - b).sum())

    def kernel(a, b):
        return a @ b.T

    partial = functools.partial(np.add, 1.0)
    bisect = BisectingKMeans(n_clusters=2, random_state=0).fit(X)
    yield "knn-callable", KNeighborsClassifier(metric=dist).fit(X, Y2), r"PyFuncDistance|metric"
    yield (
        "knn-brute-callable",
        KNeighborsClassifier(algorithm="brute", metric=dist).fit(X, Y2),
        (r"metric_? holds the function"),
    )
    yield "svc-callable", SVC(kernel=kernel).fit(X, Y2), r"kernel holds the function"
    yield "svc-rbf-object", SVC(kernel=RBF()).fit(X, Y2), None
    yield "ft-partial", FunctionTransformer(partial).fit(X), r"functools.partial of"
    yield "ft-ufunc", FunctionTransformer(np.log1p, inverse_func=np.expm1).fit(X), None
    yield (
        "ft-kw-partial",
        FunctionTransformer(np.add, kw_args={"x2": partial}).fit(X),
        (r"kw_args/x2 holds a functools.partial"),
    )
    yield "ft-type", FunctionTransformer(np.ndarray).fit(X), r"the function numpy.ndarray"
    yield "ft-scalar-type", FunctionTransformer(np.float64).fit(X), r"callable type as func"
    yield "ft-names-out", FunctionTransformer(feature_names_out=kernel).fit(X), r"feature_names_"
    yield "tfidf-tokenizer", TfidfVectorizer(tokenizer=str.split).fit(["a b"]), r"tokenizer"
    yield "hashing-file", HashingVectorizer(input="file"), r"input='file'"
    yield "select-k-best", SelectKBest(f_classif, k=2).fit(X, Y2), None
    yield "grid-scoring", GridSearchCV(SVC(), {"C": [1]}, scoring=partial, cv=2), None
    yield "agglomeration", FeatureAgglomeration(n_clusters=2).fit(X), None
    yield (
        "agglomeration-partial",
        FeatureAgglomeration(n_clusters=2, pooling_func=partial).fit(X),
        (r"pooling_func holds a functools.partial"),
    )
    yield "bisecting", bisect, None
    # the same function object, fit-only in one place and a transform's func in another
    shared = FunctionTransformer(bisect._kmeans_single)
    yield "shared-function", make_pipeline(shared, bisect), r"0/1/func holds the function"


@pytest.mark.parametrize("case", list(_callables()), ids=lambda c: c[0])
def test_predict_time_callables_are_refused_and_fit_only_ones_kept(case):
    name, model, pattern = case
    if pattern is None:
        check_structures(model, f"{name}.skops")
        return
    with pytest.raises(UnsafeInputError, match=pattern) as info:
        check_structures(model, f"{name}.skops")
    assert "\n" not in str(info.value) and f"{name}.skops" in str(info.value)


def test_the_shared_function_is_refused_in_either_order():
    """A function object reached from a fit-only attribute and from func is checked at every
    reference (the walk's de-duplication does not skip it)."""
    from sklearn.cluster import BisectingKMeans
    from sklearn.preprocessing import FunctionTransformer

    bisect = BisectingKMeans(n_clusters=2, random_state=0).fit(X)
    shared = FunctionTransformer(bisect._kmeans_single)
    for holder in ([bisect, shared], [shared, bisect]):
        with pytest.raises(UnsafeInputError, match=r"func holds the function"):
            check_structures({"models": holder}, "shared.skops")


def _tree_with_metric(metric, width: int = 4):
    from sklearn.neighbors import BallTree

    tree = BallTree(RNG.rand(30, width))
    state = list(tree.__getstate__())
    state[11] = metric
    tree.__setstate__(tuple(state))
    return tree


@pytest.mark.parametrize(
    ("metric", "params", "pattern"),
    [
        ("seuclidean", {"V": np.ones(1)}, r"SEuclideanDistance64 has parameters"),
        ("minkowski", {"p": 3, "w": np.ones(2)}, r"MinkowskiDistance64 has parameters"),
        ("haversine", {}, r"HaversineDistance64 has parameters .* for 4 columns"),
        ("mahalanobis", {"VI": np.eye(3)}, r"MahalanobisDistance64 has parameters"),
        ("pyfunc", {}, r"PyFuncDistance64 calls a function"),
    ],
)
def test_tree_metrics_sized_for_another_width_are_refused(metric, params, pattern):
    from sklearn.metrics import DistanceMetric

    if metric == "pyfunc":
        made = DistanceMetric.get_metric(lambda a, b: 0.0)
    else:
        made = DistanceMetric.get_metric(metric, **params)
    with pytest.raises(UnsafeInputError, match=pattern):
        check_structures({"tree": _tree_with_metric(made)}, "m.skops")
    sound = {"seuclidean": {"V": np.ones(4)}, "minkowski": {"p": 3, "w": np.ones(4)},
             "mahalanobis": {"VI": np.eye(4)}}.get(metric)  # fmt: skip
    if sound is not None:
        check_structures({"tree": _tree_with_metric(DistanceMetric.get_metric(metric, **sound))},
                         "m.skops")  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda s: setattr(s, "k", -1), r"degree k=-1"),
        (lambda s: setattr(s, "k", True), r"degree k=True"),
        (lambda s: setattr(s, "_t", s._t[::-1].copy()), r"unsorted"),
        (lambda s: setattr(s, "_t", np.where(s._t > 0.5, np.nan, s._t)), r"not finite"),
        (lambda s: setattr(s, "_t", s._t[:7]), r"too few"),
        (lambda s: setattr(s, "_t", s._t.astype(np.float32)), r"not a 1-D float64"),
        (lambda s: setattr(s, "_c", s._c[:2]), r"2 coefficient rows"),
        (lambda s: setattr(s, "_c", s._c.astype(np.int64)), r"not a float64 or complex128"),
        (lambda s: setattr(s, "axis", 5), r"axis 5"),
        (lambda s: setattr(s, "extrapolate", "always"), r"extrapolate='always'"),
        (lambda s: setattr(s, "_asarray", np.ndarray), r"_asarray"),
    ],
)
def test_inconsistent_splines_are_refused(edit, pattern):
    from sklearn.preprocessing import SplineTransformer

    model = SplineTransformer(extrapolation="periodic").fit(RNG.rand(30, 2))
    check_structures(model, "s.skops")
    edit(model.bsplines_[1])
    with pytest.raises(UnsafeInputError, match=r"bsplines_/1 \(BSpline\) .*" + pattern):
        check_structures(model, "s.skops")


def test_big_splines_and_neighbors_are_checked_fast():
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import SplineTransformer

    x = RNG.rand(20_000, 20)
    models = [SplineTransformer(n_knots=2_000).fit(x[:, :5]),
              KNeighborsRegressor(algorithm="ball_tree", metric="mahalanobis",
                                  metric_params={"VI": np.eye(20)}).fit(x, x[:, 0])]  # fmt: skip
    for model in models:
        start = time.perf_counter()
        check_structures(model, "big.skops")
        assert time.perf_counter() - start < 0.5
