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

from exporter.errors import UnsafeInputError
from exporter.sources.sklearn_checks import check_structures

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
    line exporter/sources/sklearn_files.py _load_skops gains)."""
    from exporter.sources import sklearn_files

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
