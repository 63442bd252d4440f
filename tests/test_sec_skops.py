"""skops files are trusted by exact name and by how skops uses each name (issue #12, class 1).

The gadget files are in tests/hostile_skops.py (inspect and export run through test_hostile.py).
Here: every other command that reads skops refuses them too, nothing runs, the payloads are real
(skops itself runs them once their names are trusted), and sound models of many kinds load.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import warnings
from pathlib import Path

import hostile_corpus as hc
import hostile_skops as hs
import numpy as np
import pytest

import exporter
from exporter.core.errors import UnsafeInputError
from exporter.models.sklearn import trust as sklearn_trust
from exporter.models.sklearn.files import load_estimator

MARKER_GADGETS = {
    "skops-builtins-exec", "skops-builtins-eval", "skops-builtins-open", "skops-numpy-savetxt",
    "skops-numpy-testing-measure", "skops-sklearn-testing-script", "skops-sklearn-data-home",
    "skops-os-system", "skops-posix-mkdir",
}  # fmt: skip
PATTERNS = {name: pattern for name, _, pattern in hs.GADGETS}


def _rx():
    rng = np.random.RandomState(0)
    x = rng.rand(40, 4) + 0.1
    return x, np.array([0, 1] * 20), rng.rand(40)


def _trusting_skops(path: Path):
    """What a loader that trusts every name skops reports would do (the prefix policy did this
    for builtins./numpy./scipy./sklearn. names): build the object, running the payload."""
    import skops.io as sio

    return sio.load(path, trusted=sio.get_untrusted_types(file=str(path)))


def _assert_refused(result, path: Path, name: str) -> None:
    import re

    assert result.exit_code == 3, result
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exporter: error: "), result
    assert path.name in lines[0] and re.search(PATTERNS[name] + ".*refused", lines[0]), lines[0]
    assert not (path.parent / hs.MARKER).exists()


@pytest.fixture(scope="module")
def sound(tmp_path_factory):
    """A sound skops file and an export of it (a spec for `check`)."""
    folder = tmp_path_factory.mktemp("sound")
    path = hc.skops_file(folder / "sound.skops")
    exporter.export(exporter.load(path), folder / "sound.npz")
    return path


# ---------------------------------------------------------------- the payloads are real


@pytest.mark.parametrize("name", sorted(MARKER_GADGETS))
def test_payload_runs_when_its_name_is_trusted(name, tmp_path):
    """Positive control: with its names trusted, skops builds the gadget and the payload runs."""
    path = hs.build_gadget(name)(tmp_path)
    with contextlib.suppress(Exception):  # some gadgets break the estimator after running
        _trusting_skops(path)
    assert (tmp_path / hs.MARKER).exists(), "the gadget must really run when trusted"
    (tmp_path / hs.MARKER).unlink() if (tmp_path / hs.MARKER).is_file() else (
        tmp_path / hs.MARKER
    ).rmdir()
    with pytest.raises(UnsafeInputError, match=PATTERNS[name]):
        exporter.load(path)
    assert not (tmp_path / hs.MARKER).exists()


def test_fromfile_would_read_another_file(tmp_path):
    (tmp_path / "secret.txt").write_bytes(b"top secret")
    path = hs.build_gadget("skops-numpy-fromfile")(tmp_path)
    est = _trusting_skops(path)
    assert est.payload_.tobytes() == b"top secret"
    with pytest.raises(UnsafeInputError, match=r"numpy\.fromfile"):
        exporter.load(path)


def test_partial_gadget_writes_when_the_model_runs(tmp_path):
    """FunctionTransformer(func=partial(np.savetxt, marker)): convert/verify run the model."""
    path = hs.build_gadget("skops-partial-savetxt")(tmp_path)
    est = _trusting_skops(path)
    est.transform(np.ones((2, 2)))
    assert (tmp_path / hs.MARKER).exists()
    (tmp_path / hs.MARKER).unlink()
    with pytest.raises(UnsafeInputError, match=r"numpy\.savetxt"):
        exporter.load(path)
    assert not (tmp_path / hs.MARKER).exists()


def _callback_to(folder: Path, port: int) -> Path:
    node = hs._callback(folder)
    address = node["content"]["content"]["_listener_handle"]["content"][0]
    address["content"][1] = hs.json_node(port)
    return hs.with_node(folder, "callback.skops", node)


def _connections(server: socket.socket, seen: list, timeout: float) -> threading.Thread:
    def accept() -> None:
        server.settimeout(timeout)
        try:
            conn, _ = server.accept()
        except OSError:
            return
        seen.append(conn)
        conn.close()  # the client then stops waiting for a handshake

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return thread


def test_sklearn_callback_class_connects_out_when_trusted(tmp_path):
    """ScoringMonitor is a scikit-learn class, but its __setstate__ connects to the address
    stored in the file: trusted by prefix, loading it made a network connection."""
    from sklearn.callback import _transport

    with socket.create_server(("127.0.0.1", 0)) as server:
        path = _callback_to(tmp_path, server.getsockname()[1])
        seen: list = []
        thread = _connections(server, seen, 10.0)
        with pytest.raises((EOFError, OSError, TypeError)):
            _trusting_skops(path)  # the handshake fails after the connection was made
        thread.join(10)
        assert len(seen) == 1, "trusted, the file made the loader connect to its address"
        seen.clear()
        thread = _connections(server, seen, 0.5)
        with pytest.raises(UnsafeInputError, match="ScoringMonitor"):
            exporter.load(path)
        thread.join(5)
        assert seen == []
    assert not any(address.startswith(str(tmp_path)) for address in _transport._listeners)


# ---------------------------------------------------------------- every command refuses


COMMANDS = ("diff", "diff-second", "spec", "check", "apply")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name", [name for name, _, _ in hs.GADGETS])
def test_every_reading_command_refuses(name, command, tmp_path, cli, sound):
    path = hs.build_gadget(name)(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    args = {
        "diff": ["diff", path, sound],
        "diff-second": ["diff", sound, path],
        "spec": ["spec", path, "-o", out / "spec.json"],
        "check": ["check", path, "--spec", sound.with_suffix(".npz")],
        "apply": ["apply", path, hc.keras_zip(tmp_path / "m.keras"), "-o", out / "new.keras"],
    }[command]
    _assert_refused(cli(*args), path, name)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("command", ["inspect", "export", "diff", "spec", "check", "convert"])
def test_commands_accept_a_sound_skops_file(command, tmp_path, cli, sound):
    """Positive control for the command lines above (and for convert below)."""
    out = tmp_path / "out"
    args = {
        "inspect": ["inspect", sound],
        "export": ["export", sound, "-o", out / "w.npz"],
        "diff": ["diff", sound, sound],
        "spec": ["spec", sound, "-o", out / "spec.json"],
        "check": ["check", sound, "--spec", sound.with_suffix(".npz")],
        "convert": ["convert", sound, "-o", out / "m.onnx"],
    }[command]
    out.mkdir()
    result = cli(*args)
    assert result.exit_code == 0, result


@pytest.mark.parametrize(
    "name", ["skops-builtins-exec", "skops-sklearn-data-home", "skops-partial-savetxt"]
)
@pytest.mark.parametrize("command", ["convert", "verify"])
def test_convert_and_verify_reach_the_same_audit(name, command, tmp_path, cli):
    path = hs.build_gadget(name)(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    if command == "convert":
        args = ["convert", path, "-o", out / "m.onnx", "--report", out / "r.json"]
    else:
        args = ["verify", path, hc.onnx_file(tmp_path / "m.onnx"), "--report", out / "r.json"]
    _assert_refused(cli(*args), path, name)
    assert list(out.iterdir()) == []


def test_trust_flag_does_not_trust_skops_gadgets(tmp_path, cli):
    path = hs.build_gadget("skops-builtins-exec")(tmp_path)
    _assert_refused(cli("inspect", "--trust", path), path, "skops-builtins-exec")
    with pytest.raises(UnsafeInputError):
        load_estimator(path, trust=True)


# ---------------------------------------------------------------- the trust list


def test_trust_is_exact_and_has_no_dangerous_names():
    trust = sklearn_trust.TRUSTED()
    assert trust is sklearn_trust.TRUSTED(), "built once per process"
    names = trust.classes | trust.functions
    for bad in ("builtins.eval", "builtins.exec", "builtins.open", "builtins.compile",
                "builtins.getattr", "builtins.__import__", "builtins.type", "numpy.savetxt",
                "numpy.fromfile", "numpy.load", "numpy.memmap", "os.system", "posix.system",
                "posixpath.join", "operator.attrgetter", "functools.reduce",
                "numpy.testing._private.utils.measure",
                "sklearn.datasets._base.get_data_home",
                "sklearn.callback._scoring_monitor.ScoringMonitor"):  # fmt: skip
        assert bad not in names, bad
    bad_modules = ("sklearn.callback", "sklearn.datasets", "sklearn.utils._testing",
                   "sklearn.externals", "numpy.testing", "numpy.lib._npyio_impl")  # fmt: skip
    assert not [n for n in names if n.startswith(bad_modules)]
    assert not trust.classes & trust.functions


def test_only_reviewed_functions_are_trusted():
    """Functions: ufuncs, and the pure functions scikit-learn defaults hold."""
    import scipy.special

    reviewed = ("sklearn.metrics.", "sklearn.feature_selection.", "sklearn.cluster._kmeans.",
                "sklearn.utils.validation.check_array", "numpy.mean",
                "scipy._lib.array_api_compat.numpy._aliases.asarray")  # fmt: skip
    ufuncs = {f"numpy.{n}" for n, f in vars(np).items() if isinstance(f, np.ufunc)}
    ufuncs |= {f"{f.__module__}.{f.__name__}" for f in vars(np).values() if isinstance(f, np.ufunc)}
    ufuncs |= {
        f"scipy.special.{n}" for n, f in vars(scipy.special).items() if isinstance(f, np.ufunc)
    }
    others = {n for n in sklearn_trust.TRUSTED().functions if n not in ufuncs}
    assert others and all(n.startswith(reviewed) for n in others), sorted(others)


def test_internal_classes_of_fitted_models_are_trusted():
    classes = sklearn_trust.TRUSTED().classes
    for name in ("sklearn.tree._tree.Tree",
                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
                 "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
                 "sklearn._loss.loss.HalfTweedieLossIdentity", "sklearn._loss._loss.CyHalfMultinomialLoss",
                 "sklearn.gaussian_process.kernels.Matern", "sklearn.neighbors._kd_tree.KDTree",
                 "sklearn.metrics._dist_metrics.EuclideanDistance64",
                 "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
                 "sklearn.model_selection._search_successive_halving.HalvingGridSearchCV",
                 "scipy.sparse._csr.csr_matrix", "numpy.random.mtrand.RandomState",
                 "numpy.ndarray", "numpy.dtype", "numpy.float64"):  # fmt: skip
        assert name in classes, name


def test_ufunc_is_referenced_not_called(tmp_path):
    """FunctionTransformer(func=np.log1p) loads; the same ufunc in a calling node does not."""
    from sklearn.preprocessing import FunctionTransformer

    path = hc.skops_file(tmp_path / "ft.skops", FunctionTransformer(np.log1p).fit(np.ones((2, 2))))
    assert load_estimator(path).func is np.log1p
    bad = hs.build_gadget("skops-ufunc-called")(tmp_path)
    with pytest.raises(UnsafeInputError, match=r"numpy\.log1p"):
        load_estimator(bad)


# ---------------------------------------------------------------- sound models still load


def _sound_models() -> dict:
    from sklearn.cluster import BisectingKMeans, KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier as HGBC
    from sklearn.ensemble import HistGradientBoostingRegressor as HGBR
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.feature_selection import SelectKBest, chi2
    from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import Matern, WhiteKernel
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer
    from sklearn.random_projection import SparseRandomProjection
    from sklearn.svm import SVC

    x, yc, yr = _rx()
    cats = np.c_[np.array([0, 1, 2, 3] * 10), x[:, :2]]
    ct = ColumnTransformer(
        [("oh", OneHotEncoder(handle_unknown="ignore"), [0])], remainder="passthrough"
    )
    docs = ["the cat sat", "a dog ran", "the dog sat on the cat", "birds fly"] * 3
    return {
        "linear": (LinearRegression(), x, yr),
        "forest": (RandomForestClassifier(n_estimators=3, random_state=0), x, yc),
        "hgb": (HGBR(max_iter=3), x, yr),
        "hgb-categorical": (HGBC(max_iter=3, categorical_features=[0]), cats, yc),
        "gp": (GaussianProcessRegressor(Matern() + WhiteKernel()), x, yr),
        "gpc": (GaussianProcessClassifier(), x, yc),
        "pipeline": (make_pipeline(ct, LogisticRegression()), cats, yc),
        "svc": (SVC(probability=True, random_state=0), x, yc),
        "mlp": (MLPClassifier(max_iter=20, random_state=0), x, yc),
        "kmeans": (KMeans(3, n_init=1, random_state=0), x, None),
        "bisecting": (BisectingKMeans(3, random_state=0), x, None),
        "log1p": (FunctionTransformer(np.log1p), x, None),
        "tfidf": (TfidfVectorizer(), docs, None),
        "sparse-projection": (SparseRandomProjection(2, dense_output=False, random_state=0), x, None),
        "select-chi2": (SelectKBest(chi2, k=2), x, yc),
        "grid": (GridSearchCV(LogisticRegression(), {"C": [1.0, 2.0]}, scoring="accuracy", cv=2), x, yc),
        "knn": (KNeighborsClassifier(3), x, yc),
        "spline": (SplineTransformer(), x, None),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_sound_models()))
def test_sound_models_load(name, tmp_path):
    est, x, y = _sound_models()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(x, y) if y is not None else est.fit(x)
    path = hc.skops_file(tmp_path / f"{name}.skops", est)
    loaded = load_estimator(path)
    assert type(loaded) is type(est)
    ws = exporter.load(path)
    assert ws.info.kind == "sklearn-skops"


@pytest.mark.slow
def test_every_estimator_of_all_estimators_loads(tmp_path):
    """Every estimator scikit-learn lists that fits on a tiny dataset and that skops can dump
    loads through the audit (the trust list covers real models)."""
    import skops.io as sio
    from sklearn.base import is_classifier
    from sklearn.utils import all_estimators
    from sklearn.utils._test_common.instance_generator import _construct_instances

    x, yc, yr = _rx()
    loaded, refused = 0, []
    for name, cls in all_estimators():
        for index, est in enumerate(_instances(cls, _construct_instances)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(x, yc if is_classifier(est) else yr)
                path = tmp_path / f"{name}-{index}.skops"
                sio.dump(est, path)
            except Exception:  # needs other data, or skops cannot dump it: not our concern
                continue
            try:
                assert type(load_estimator(path)) is cls, name
            except UnsafeInputError as exc:
                refused.append(str(exc).split("numpy/scipy: ")[1].split("; refused")[0])
            loaded += 1
    assert refused == [] and loaded > 150


def _instances(cls, construct) -> list:
    try:
        return list(construct(cls))
    except Exception:
        return []
