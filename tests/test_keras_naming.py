"""Keras names, order and trainable flags from the direct readers equal Keras's own (issue #13).

Fast tests check the naming rules on configs (no TensorFlow). Slow tests build small models with
Keras in one subprocess (tests/keras_corpus.py builders: weights randomized, every layout, and
what Keras's layer tree says: DESIGN.md "Canonical tensor names", order = model.weights), then
read every layout in a second process with tensorflow/keras imports blocked, and compare.
A read either equals Keras bit for bit ("ok"), or keeps order and values and says which names it
could not know ("warn": a warning and manifest naming other than "canonical") — never silently.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras_corpus
import pytest

from exporter.models.keras import slots as kc
from exporter.models.keras.config import LayerNode, layer_tree
from exporter.models.keras.slots import layer_slots, variant_key

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _bidir(layer: str, backward: str | None) -> LayerNode:
    cfg = {"name": "bidirectional", "layer": {"class_name": "LSTM", "config": {"name": layer}}}
    if backward:
        cfg["backward_layer"] = {"class_name": "LSTM", "config": {"name": backward}}
    return LayerNode("Bidirectional", "bidirectional", cfg, module="keras.layers")


@pytest.mark.parametrize(
    ("layer", "backward", "legacy", "names"),
    [
        # Keras 3 writes the forward layer's own config (already prefixed) and a backward_layer.
        ("forward_lstm", "backward_lstm", False, ["forward_lstm", "backward_lstm"]),
        ("forward_fwd", "bwd", False, ["forward_fwd", "bwd"]),
        ("enc", None, False, ["forward_enc", "backward_enc"]),
        ("backward_x", None, False, ["forward_backward_x", "backward_x"]),
        # tf-keras: the original layer's config, both always prefixed.
        ("lstm", None, True, ["forward_lstm", "backward_lstm"]),
        ("lstm", "rev", True, ["forward_lstm", "backward_rev"]),
    ],
)
def test_bidirectional_names_follow_keras(layer, backward, legacy, names):
    slots = layer_slots(_bidir(layer, backward), legacy)
    assert [s.child.name for s in slots] == names
    assert [s.attrs for s in slots] == [("forward_layer",), ("backward_layer",)]


def test_operations_in_a_functional_config_are_not_layers():
    """MobileNetV3 / ConvNeXt: `x + y` on Keras tensors is an Operation entry (module
    keras.src.ops.numpy) in config.layers, not in model.layers and not in the file."""
    config = {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "Add", "module": "keras.src.ops.numpy", "config": {"name": "add"}},
                {"class_name": "Add", "module": "keras.layers", "config": {"name": "block_add"}},
            ],
        },
    }
    assert [c.name for c in layer_tree(config).children] == ["block_add"]


def test_layer_table_is_keras_own_and_selects_variants():
    table = kc.layer_table()
    dense = table["Dense"]
    assert variant_key(dense, {}) == "use_bias=1"
    assert variant_key(dense, {"use_bias": False}) == "use_bias=0"
    assert variant_key(table["EinsumDense"], {"bias_axes": "de"}) == "bias_axes=1"
    assert variant_key(table["Normalization"], {"mean": None}) == "mean=0"
    mha = table["MultiHeadAttention"]["variants"][variant_key(table["MultiHeadAttention"], {})]
    assert [n for _, n, _ in mha][:2] == ["query/kernel", "query/bias"]
    bn = table["BatchNormalization"]["variants"]["center=1,renorm=0,scale=1"]
    assert [(n, t) for _, n, t in bn] == [
        ("gamma", True), ("beta", True), ("moving_mean", False), ("moving_variance", False)
    ]  # fmt: skip
    # keras.applications-internal: ConvNeXt's LayerScale, whose weight Keras numbers itself.
    assert table["LayerScale"]["module"] == "keras.src.applications.convnext"
    assert table["LayerScale"]["variants"][""] == [["vars/0", None, True]]


def test_custom_class_with_a_builtin_name_is_not_named_from_the_table():
    node = LayerNode("Dense", "d", {}, module="mypkg.layers", registered="mypkg>Dense")
    assert layer_slots(node, False) is None
    assert layer_slots(LayerNode("Dense", "d", {}, module="keras.layers"), False)


# ---- Keras against the direct readers ----------------------------------------------------------

# Each model, and the layouts where its names cannot all be known from the file (said so).
MODELS = {
    "bilstm_text": (),
    "bigru_stacked": (),
    "bidir_backward_layer": (),
    "bidir_merge_modes": (),
    "time_distributed": (),
    "custom_nontrainable": ("keras", "weights"),
    "layerscale_custom": ("keras", "weights"),
    "MobileNetV3Small": (),
}
# Order not recoverable from a .keras/.weights.h5 (Keras saves attributes by name, model.weights
# follows assignment order): every tensor must still be read, and the reader must say so.
UNORDERED = {"transformer_custom": ("keras", "weights"), "subclassed": ("keras", "weights")}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    """(folder, {model: {layout: read}}): built with Keras, read with TensorFlow blocked."""
    base = os.environ.get("EXPORTER_CORPUS_CACHE") or tmp_path_factory.mktemp("naming")
    folder = keras_corpus.cache_folder(base)
    names = [*MODELS, *UNORDERED]
    done = _run([str(TESTS / "keras_corpus.py"), "build", str(folder), *names], 900)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path_factory.mktemp("naming-read") / "read.json"
    done = _run([str(TESTS / "keras_corpus.py"), "read", str(folder), str(out), *names], 300)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, json.loads(out.read_text())


def _expected(folder: Path, model: str) -> list[dict]:
    return json.loads((folder / model / keras_corpus.EXPECTED).read_text())["weights"]


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(keras_corpus.LAYOUTS))
@pytest.mark.parametrize("model", list(MODELS))
def test_direct_read_equals_keras(model, layout, corpus):
    folder, results = corpus
    status, detail = keras_corpus.compare(_expected(folder, model), results[model][layout])
    assert status == ("warn" if layout in MODELS[model] else "ok"), f"{model} {layout}: {detail}"


@pytest.mark.slow
@pytest.mark.parametrize("model", list(UNORDERED))
def test_unknown_structure_is_complete_and_said(model, corpus):
    folder, results = corpus
    expected = _expected(folder, model)
    assert keras_corpus.compare(expected, results[model]["h5"])[0] == "ok"
    for layout in UNORDERED[model]:
        got = results[model][layout]
        assert "error" not in got, got
        assert len(got["tensors"]) == len(expected)  # never fewer tensors than the file holds
        assert sorted(r["sha256"] for r in got["tensors"]) == sorted(e["sha256"] for e in expected)
        assert got["naming"] != "canonical"
        assert any("differ from model.weights" in w for w in got["warnings"])


@pytest.mark.slow
def test_transformer_block_keeps_built_in_sublayer_order(corpus):
    """A MultiHeadAttention inside a custom class: its query/key/value/output order is Keras's
    (from the table), not the file's attribute order (key, output, query, value)."""
    folder, results = corpus
    expected = _expected(folder, "transformer_custom")
    for layout in ("keras", "weights"):
        rows = results["transformer_custom"][layout]["tensors"]
        attention = [i for i, e in enumerate(expected) if "multi_head_attention" in e["name"]]
        assert attention
        assert all(rows[i]["sha256"] == expected[i]["sha256"] for i in attention), layout


@pytest.mark.slow
def test_layer_table_equals_keras(tmp_path):
    """Regenerate layers.json from the installed Keras: fails when Keras adds or changes
    a layer class (run `python -m exporter.models.keras.layer_table` and commit the file)."""
    out = tmp_path / "layers.json"
    done = _run(["-m", "exporter.models.keras.layer_table", "--out", str(out)], 900)
    assert done.returncode == 0, done.stderr[-2000:]
    new, old = (json.loads(p.read_text())["layers"] for p in (out, kc.LAYER_TABLE))
    changed = {n: new.get(n) for n in sorted(set(new) | set(old)) if new.get(n) != old.get(n)}
    assert not changed, f"Keras's layers differ from layers.json: {changed}"[:3000]
