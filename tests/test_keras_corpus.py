"""The Keras corpus (tests/keras_corpus.py) read back exactly, with TensorFlow blocked.

Every example architecture and the smallest constructor of each `keras.applications` family is
built once per session (in `$EXPORTER_CORPUS_CACHE/keras-<version>-<digest>` when that is set,
so later sessions reuse it; else in a session temp folder) in `.keras`, legacy `.h5` and
`.weights.h5` (+ its config.json). A second process with tensorflow/keras imports blocked reads
every file with exporter's direct reader; each model x layout must give Keras's own names, order
and values bit for bit (`compare` below, over `keras_corpus.compare`). A reader that cannot
name a variable with certainty may say so (a warning and manifest naming other than
"canonical") but must keep the order, except for classes it does not know, whose variables
it reads in the order Keras saves them (creation order is not in the file): that passes
only when said (a warning about order, naming not canonical) and every value of Keras's is
there exactly once under a distinct name; fewer tensors than the file holds is a failure. `bench/keras_corpus.py` runs every
constructor of keras.applications and prints the table.

Also here: "never succeed with an empty or incomplete export" for Keras (issue #13) and
`exporter convert` against tf2onnx alone on three small applications.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import keras_corpus
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SUITE = [*keras_corpus.EXAMPLES, *keras_corpus.APP_SUITE]
CONVERT = ["MobileNetV3Small", "EfficientNetB0", "ConvNeXtTiny"]
BUILD_TIMEOUT = 1200  # cold: every model of SUITE built and saved three times
READ_TIMEOUT = 600


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """The built corpus folder (only models missing from the cache are built)."""
    base = os.environ.get("EXPORTER_CORPUS_CACHE") or tmp_path_factory.mktemp("keras-corpus")
    folder = keras_corpus.cache_folder(base)
    done = _run([str(TESTS / "keras_corpus.py"), "build", str(folder), *SUITE], BUILD_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.fixture(scope="session")
def results(corpus_dir, tmp_path_factory) -> dict:
    """{model: {layout: what the direct reader read}}, from one process with TensorFlow blocked."""
    out = tmp_path_factory.mktemp("corpus-read") / "results.json"
    args = [str(TESTS / "keras_corpus.py"), "read", str(corpus_dir), str(out), *SUITE]
    done = _run(args, READ_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def expected(corpus_dir: Path, model: str) -> dict:
    """The model's expected.json (what Keras says its weights are)."""
    return json.loads((corpus_dir / model / keras_corpus.EXPECTED).read_text())


@pytest.mark.parametrize("layout", list(keras_corpus.LAYOUTS))
@pytest.mark.parametrize("model", SUITE)
def test_direct_reader_equals_keras(model, layout, corpus_dir, results):
    record = expected(corpus_dir, model)
    if record["layouts"][layout] != "ok":
        pytest.skip(record["layouts"][layout])
    status, detail = compare(record["weights"], results[model][layout])
    assert status != "FAIL", f"{model} {layout}: {detail}"


def compare(expected: list[dict], got: dict) -> tuple[str, str]:
    """keras_corpus.compare, with one more "warn": a read in another order than `model.weights`
    passes only as a positional read of classes the reader does not know (ordered as Keras
    saves them; creation order is not in the file): see _saved_order_read. Else its verdict."""
    status, detail = keras_corpus.compare(expected, got)
    if status != "FAIL" or "error" in got or len(got["tensors"]) != len(expected):
        return status, detail
    if [_key(r) for r in got["tensors"]] == [_key(e) for e in expected]:
        return status, detail  # in order: the strict verdict stands (names, flags)
    problem = _saved_order_read(expected, got)
    if problem:
        return "FAIL", f"{detail} ({problem})"
    return "warn", f"positional read in saved order, every value once (said so): {detail}"


def _key(row: dict) -> tuple:
    return row["dtype"], tuple(row["shape"]), row["sha256"]


def _saved_order_read(expected: list[dict], got: dict) -> str:
    """Why a reordered read is not an acceptable positional one ("" when it is): the reader
    warned about names/order, naming is not canonical, every (dtype, shape, value) of Keras's
    is there exactly once under a distinct name, a name Keras uses holds Keras's tensor of
    that name, and no trainable flag contradicts Keras's."""
    rows = got["tensors"]
    if got["naming"] == "canonical" or not any("order" in w for w in got["warnings"]):
        return "reordered without a warning about order and a non-canonical naming"
    if Counter(map(_key, rows)) != Counter(map(_key, expected)):
        return "the values read are not Keras's values each exactly once"
    names = [r["name"] for r in rows]
    if len(set(names)) != len(names):
        return "names repeat"
    by_name = {e["name"]: e for e in expected}
    taken = [
        r["name"] for r in rows if r["name"] in by_name and _key(by_name[r["name"]]) != _key(r)
    ]
    if taken:
        return f"Keras's names on other tensors: {taken[:3]}"
    return _flags_contradict(expected, rows)


def _flags_contradict(expected: list[dict], rows: list[dict]) -> str:
    """ "" when each row's trainable flag (None = unknown) fits a Keras tensor of its value."""
    left = Counter((_key(e), e["trainable"]) for e in expected)
    for row in rows:
        if row["trainable"] is None:
            continue
        if left[(_key(row), row["trainable"])] == 0:
            return f"trainable flag of {row['name']!r} is wrong"
        left[(_key(row), row["trainable"])] -= 1
    return ""


def test_expected_names_match_the_legacy_h5_weight_names(corpus_dir):
    """The naming function (DESIGN.md rule on Keras's layer tree) agrees with the names Keras
    itself writes into every legacy .h5 of the corpus (FORMATS.md; name scopes that are no
    layer, as in NASNet, aside)."""
    checked = []
    for model in SUITE:
        if expected(corpus_dir, model)["layouts"]["h5"] == "ok":
            problems, _ = keras_corpus.h5_mismatches(corpus_dir / model)
            assert problems == [], (model, problems[:5])
            checked.append(model)
    assert len(checked) >= len(SUITE) - 2, checked


def test_every_application_family_is_in_the_suite(corpus_dir):
    """A family keras.applications gains (a new module) must join APP_SUITE."""
    families = json.loads((corpus_dir / "apps.json").read_text())
    covered = {families[name] for name in keras_corpus.APP_SUITE}
    missing = sorted({f for f in families.values() if f not in covered})
    assert not missing, f"keras.applications families without a suite model: {missing}"


def test_the_reading_process_really_blocks_tensorflow(corpus_dir, tmp_path):
    """Positive control for the blocker: `import keras` fails in the reading process."""
    code = (
        "import keras_corpus; keras_corpus.block_tensorflow()\n"
        "try:\n    import keras\nexcept ImportError as exc:\n    print('blocked', exc)\n"
    )
    done = _run(["-c", code], 60)
    assert done.returncode == 0 and done.stdout.startswith("blocked"), done


# ---- never succeed with an empty or incomplete export (issue #13, Keras) --------------------

NO_TF_CLI = (
    "import sys, keras_corpus\n"
    "keras_corpus.block_tensorflow()\n"
    "sys.argv = ['exporter', *sys.argv[1:]]\n"
    "from exporter.cli.app import main\n"
    "main()\n"
)


def _cli_counts(path: Path, tmp_path: Path, extra: list[str]) -> dict[str, tuple[int, int | str]]:
    """{command: (exit code, tensors reported or the stderr)} for inspect, export and spec."""
    runs = {
        "inspect": ["inspect", "--json", str(path), *extra],
        "export": ["export", str(path), "-o", str(tmp_path / "out.npz"), *extra],
        "spec": ["spec", str(path), "-o", str(tmp_path / "spec.json"), *extra],
    }
    counts = {}
    for command, args in runs.items():
        done = _run(["-c", NO_TF_CLI, *args], 120)
        if done.returncode != 0:
            counts[command] = (done.returncode, done.stderr)
        elif command == "inspect":
            counts[command] = (0, len(json.loads(done.stdout)["tensors"]))
        elif command == "export":
            with zipfile.ZipFile(tmp_path / "out.npz") as archive:
                manifest = json.loads(archive.read("manifest.json"))
            counts[command] = (0, len(manifest["tensors"]))
        else:
            counts[command] = (0, len(json.loads((tmp_path / "spec.json").read_text())["tensors"]))
    return counts


@pytest.mark.parametrize("layout", ["keras", "weights"])
def test_subclassed_model_file_is_never_an_empty_or_incomplete_success(
    corpus_dir, tmp_path, layout
):
    """inspect/export/spec of a subclassed keras.Model's file: all its tensors, or exit 3 with
    one line naming the file; never fewer tensors with exit 0."""
    folder = corpus_dir / "subclassed"
    holds = len(expected(corpus_dir, "subclassed")["weights"])
    extra = ["--config", str(folder / keras_corpus.CONFIG)] if layout == "weights" else []
    path = folder / keras_corpus.LAYOUTS[layout]
    for command, (code, got) in _cli_counts(path, tmp_path, extra).items():
        if code == 0:
            assert got == holds, f"{command}: exit 0 with {got} tensors; the file holds {holds}"
        else:
            lines = got.strip().splitlines()
            assert code == 3 and len(lines) == 1, (command, code, got[-2000:])
            assert lines[0].startswith("exporter: error: ") and path.name in lines[0], lines


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def _same_as_keras(ws, want: list[dict], names: bool = True) -> None:
    got = [
        {"name": t.name, "sha256": keras_corpus.value_digest(t.read()), "trainable": t.trainable}
        for t in ws
    ]
    assert len(got) == len(want), ([g["name"] for g in got], [w["name"] for w in want])
    for g, w in zip(got, want, strict=True):
        assert g["sha256"] == w["sha256"], (g["name"], w["name"])
        assert g["trainable"] == w["trainable"], (g["name"], g["trainable"])
        if names:
            assert g["name"] == w["name"]


@pytest.mark.parametrize("builder", ["subclassed", "transformer_custom", "custom_nontrainable"])
def test_load_accepts_any_keras_model_object(keras, builder):
    """exporter.load(model) of a subclassed keras.Model or a model holding custom classes:
    Keras's names, order, values and trainable flags."""
    import exporter

    keras.backend.clear_session()
    model = keras_corpus.EXAMPLES[builder](keras)
    keras_corpus.randomize(model)
    _same_as_keras(exporter.load(model), keras_corpus.expected_weights(model))


def test_load_accepts_layer_objects(keras):
    """exporter.load(layer) of a built Layer (a plain one and a custom one holding sub-layers):
    every variable in layer.weights order, values and flags equal (names are not pinned here)."""
    import exporter

    custom = keras_corpus.custom_classes(keras)
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    block = custom["TransformerBlock"](dim=8, heads=2, ff=16)
    block(keras.ops.zeros((1, 5, 8)))
    for layer in (dense, block):
        want = [
            {
                "name": v.path,
                "sha256": keras_corpus.value_digest(v.numpy()),
                "trainable": v.trainable,
            }
            for v in layer.weights
        ]
        ws = exporter.load(layer)
        _same_as_keras(ws, want, names=False)
        assert len(set(ws.names())) == len(want)


def test_unbuilt_model_object_is_an_error_not_an_empty_export(keras):
    """An unbuilt model has no variables yet: exit-3 error saying "not built", not 0 tensors."""
    import exporter
    from exporter.core.errors import InputError

    keras.backend.clear_session()
    sequential = keras.Sequential([keras.layers.Dense(3)])
    tower = keras_corpus.custom_classes(keras)["TwoTower"](units=2)
    for model in (sequential, tower):
        with pytest.raises(InputError, match="not built") as caught:
            exporter.load(model)
        assert caught.value.exit_code == 3


def test_custom_nontrainable_variables_are_never_reported_trainable(corpus_dir, results):
    """CountingScale's `count` and `offset` (trainable=False): False, or unknown (None) where
    the file cannot say; never True."""
    want = expected(corpus_dir, "custom_nontrainable")["weights"]
    frozen = [i for i, w in enumerate(want) if not w["trainable"]]
    assert [want[i]["name"] for i in frozen] == ["counting_scale/count", "counting_scale/offset"]
    for layout, got in results["custom_nontrainable"].items():
        assert "tensors" in got, (layout, got)
        flags = [got["tensors"][i]["trainable"] for i in frozen]
        assert True not in flags, f"{layout}: reported trainable {flags}"


# ---- conversion: never worse than tf2onnx alone ---------------------------------------------


@pytest.mark.parametrize("model", CONVERT)
def test_convert_passes_where_tf2onnx_alone_does(model, corpus_dir, tmp_path):
    """`exporter convert` never fails where tf2onnx alone (from_function, explicit signature,
    onnxruntime against Keras) converts; where tf2onnx alone fails, exporter may do better,
    and never crashes (exit 4)."""
    path = corpus_dir / model / keras_corpus.LAYOUTS["keras"]
    direct = _run(
        [str(TESTS / "keras_corpus.py"), "tf2onnx", str(path), str(tmp_path / "d.onnx")], 900
    )
    assert direct.returncode == 0, direct.stderr[-2000:]
    alone = json.loads(direct.stdout.strip().splitlines()[-1])
    ours = _run(["-m", "exporter", "convert", str(path), "-o", str(tmp_path / "e.onnx")], 900)
    assert ours.returncode in (0, 1, 3), ours.stderr[-1500:]
    if alone["ok"]:
        assert ours.returncode == 0, f"tf2onnx alone converts {model}: {ours.stderr[-1500:]}"


def test_compare_catches_every_kind_of_wrong_read():
    """Positive control for compare: a faithful read passes; a reorder, a missing tensor, a
    silent rename, a wrong trainable flag or an error fail; an uncertain name passes only when
    the reader says so (a warning and naming other than "canonical"); a reorder passes (warn)
    only as a said positional read holding every value exactly once under distinct names."""
    want = [
        {"name": f"d/{n}", "dtype": "<f4", "shape": [2], "sha256": n * 8, "trainable": n != "m"}
        for n in ("k", "b", "m")
    ]

    def read(rows, naming="canonical", notes=()):
        return {"tensors": rows, "naming": naming, "warnings": list(notes)}

    renamed = [dict(want[0], name="d/var0"), *want[1:]]
    assert compare(want, read(want))[0] == "ok"
    assert compare(want, read(want[::-1]))[0] == "FAIL"
    assert compare(want, read(want[:2]))[0] == "FAIL"
    assert compare(want, read(renamed))[0] == "FAIL"
    assert compare(want, read(renamed, notes=["unknown"]))[0] == "FAIL"
    assert compare(want, read(renamed, "positional", ["unknown"]))[0] == "warn"
    assert compare(want, read([*want[:2], dict(want[2], trainable=True)]))[0] == "FAIL"
    assert compare(want, read([*want[:2], dict(want[2], trainable=None)]))[0] == "ok"
    assert compare(want, {"error": "exit 3: x"})[0] == "FAIL"
    # Reordered, in the order Keras saves, named by attribute path:
    saved = [dict(w, name=f"x/var{i}") for i, w in enumerate(want[::-1])]
    said = ["names by attribute path, ordered as Keras saves them"]
    assert compare(want, read(saved, "positional", said))[0] == "warn"
    assert compare(want, read(saved, "positional", ["unknown class"]))[0] == "FAIL"  # no order
    assert compare(want, read(saved, "positional"))[0] == "FAIL"  # a reorder WITHOUT a warning
    assert compare(want, read(saved, "canonical", said))[0] == "FAIL"
    swapped = [dict(want[2], name="d/k"), want[1], dict(want[0], name="d/m")]
    assert compare(want, read(swapped, "positional", said))[0] == "FAIL"  # Keras names moved
    twice = [*saved[:2], dict(saved[1], name="x/var2")]
    assert compare(want, read(twice, "positional", said))[0] == "FAIL"  # a value twice
    same_name = [*saved[:2], dict(saved[2], name="x/var0")]
    assert compare(want, read(same_name, "positional", said))[0] == "FAIL"
    flipped = [dict(saved[0], trainable=True), *saved[1:]]  # saved[0] is d/m, not trainable
    assert compare(want, read(flipped, "positional", said))[0] == "FAIL"
    unknown = [dict(saved[0], trainable=None), *saved[1:]]
    assert compare(want, read(unknown, "positional", said))[0] == "warn"
