"""The Keras corpus: every `keras.applications` constructor and the standard example
architectures, saved in every Keras 3 layout, with what Keras itself says the weights are.

Building (imports Keras; run in its own process, `python tests/keras_corpus.py build DIR NAME...`):
each model gets a folder DIR/NAME with `model.keras`, `model.h5` (legacy, `model.save("m.h5")`),
`model.weights.h5` (`save_weights`), `config.json` (the `.keras` archive's config, for the bare
weights file) and `expected.json`, written last, so a folder without it is rebuilt. Weights are
overwritten with seeded random values first, so a tensor read at the wrong position is visible.

Expected names follow DESIGN.md "Canonical tensor names", computed from Keras's layer tree
(`canonical_names`): from each layer of `model.layers` through tracked sublayers (`_layers`) to
the layer owning the variable, layer names joined by `/`, then the variable's short name; order
is `model.weights`, the trainable flag is membership of `model.trainable_weights`. The legacy
`.h5` stores the same names (`weight_names`, FORMATS.md); `h5_mismatches` re-checks that.

Reading (`python tests/keras_corpus.py read DIR OUT.json NAME...`): TensorFlow and Keras imports
are blocked before exporter is imported; every layout is read with exporter's direct reader and
compared with `compare`. Nothing here imports Keras at module level.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

LAYOUTS = {"keras": "model.keras", "h5": "model.h5", "weights": "model.weights.h5"}
CONFIG = "config.json"
EXPECTED = "expected.json"
# The smallest constructor of each keras.applications family (module), for the test suite.
APP_SUITE = [
    "ConvNeXtTiny", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "InceptionResNetV2",
    "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
    "NASNetMobile", "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception",
]  # fmt: skip
# Families whose classifier head alone would dominate the corpus (VGG: 120M parameters).
NO_TOP = ("vgg16", "vgg19")
INPUT_SIZES = (32, 71, 75, 96, 128, 224)
BLOCKED = ("tensorflow", "keras", "tf_keras")


def cache_folder(base: str | os.PathLike) -> Path:
    """base/keras-<version>-<digest of the building code below>: built files are reused until
    Keras or the builders change."""
    text = Path(__file__).read_text()
    builders = text[text.index("\n# ---- building") : text.index("\n# ---- reading")]
    digest = hashlib.sha256(builders.encode()).hexdigest()[:12]
    return Path(base) / f"keras-{metadata.version('keras')}-{digest}"


def value_digest(array: Any) -> str:
    """sha256 of the array's C-order bytes (as stored: its own dtype and byte order)."""
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# ---- building (imports Keras) ----------------------------------------------------------------


def canonical_names(model: Any) -> dict[int, str]:
    """id(variable) -> canonical name, by the DESIGN.md rule (first path wins for a shared
    layer, as Keras lists a shared layer's weights once, where it first appears)."""
    names: dict[int, str] = {}

    def owned(layer: Any) -> list[Any]:
        return list(layer._trainable_variables) + list(layer._non_trainable_variables)

    def walk(layer: Any, prefix: str) -> None:
        for variable in owned(layer):
            names.setdefault(id(variable), f"{prefix}/{variable.name}")
        for sub in layer._layers:
            walk(sub, f"{prefix}/{sub.name}")

    for variable in owned(model):
        names.setdefault(id(variable), variable.name)
    for layer in model.layers:
        walk(layer, layer.name)
    return names


def expected_weights(model: Any) -> list[dict[str, Any]]:
    """[{name, dtype, shape, sha256, trainable}] in `model.weights` order, as Keras sees them."""
    names = canonical_names(model)
    trainable = {id(v) for v in model.trainable_weights}
    rows = []
    for variable in model.weights:
        if id(variable) not in names:
            raise AssertionError(f"{model.name}: {variable.path} is owned by no layer reached")
        array = variable.numpy()
        rows.append(
            {
                "name": names[id(variable)],
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "sha256": value_digest(array),
                "trainable": id(variable) in trainable,
            }
        )
    duplicates = {r["name"] for r in rows if [s["name"] for s in rows].count(r["name"]) > 1}
    if duplicates:
        raise AssertionError(f"{model.name}: canonical names repeat: {sorted(duplicates)}")
    return rows


def randomize(model: Any, seed: int = 0) -> None:
    """Distinct seeded values for every weight: kernels scaled by 1/sqrt(fan-in) so that
    activations stay in range (the conversion check compares outputs), 1-D weights in
    [0.5, 1.5) (variances stay valid)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = []
    for array in model.get_weights():
        if np.issubdtype(array.dtype, np.integer):
            values.append(rng.integers(0, 100, array.shape).astype(array.dtype))
        elif array.ndim <= 1:
            values.append((0.5 + rng.random(array.shape)).astype(array.dtype))
        else:
            fan_in = max(1, int(np.prod(array.shape[:-1])))
            noise = rng.standard_normal(array.shape) / np.sqrt(fan_in)
            values.append(noise.astype(array.dtype))
    model.set_weights(values)


def app_constructors(keras: Any) -> dict[str, Callable[..., Any]]:
    """Every model constructor in keras.applications, found at run time."""
    apps = keras.applications
    found = {n: getattr(apps, n) for n in dir(apps) if n[:1].isupper()}
    return {n: f for n, f in sorted(found.items()) if callable(f)}


def app_family(constructor: Callable[..., Any]) -> str:
    """The keras.applications module a constructor comes from (resnet, mobilenet_v3, ...)."""
    return constructor.__module__.rsplit(".", 1)[-1]


def build_app(keras: Any, name: str) -> Any:
    """keras.applications.<name>(weights=None) at the smallest square input it accepts; with a
    10-class head except for VGG."""
    constructor = app_constructors(keras)[name]
    top = app_family(constructor) not in NO_TOP
    last: Exception | None = None
    for size in INPUT_SIZES:
        try:
            kwargs = {"classes": 10} if top else {}
            return constructor(weights=None, include_top=top, input_shape=(size, size, 3), **kwargs)
        except ValueError as exc:  # input too small for this architecture
            last = exc
            keras.backend.clear_session()
    raise AssertionError(f"{name}: no input size of {INPUT_SIZES} accepted: {last}")


_CUSTOM: dict[str, type] = {}


def custom_classes(keras: Any) -> dict[str, type]:
    """The corpus's own registered classes (defined once per process)."""
    if not _CUSTOM:
        _define_layers(keras)
        _define_model(keras)
    return _CUSTOM


def _define_layers(keras: Any) -> None:
    L, register = keras.layers, keras.saving.register_keras_serializable(package="keras_corpus")

    class TransformerBlock(L.Layer):
        """The keras.io text-classification Transformer block: sub-layers, no build()."""

        def __init__(self, dim=8, heads=2, ff=16, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.dim, self.heads, self.ff, self.rate = dim, heads, ff, rate
            self.att = L.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)
            self.ffn = keras.Sequential([L.Dense(ff, activation="relu"), L.Dense(dim)])
            self.ln1, self.ln2 = L.LayerNormalization(epsilon=1e-6), L.LayerNormalization()
            self.drop1, self.drop2 = L.Dropout(rate), L.Dropout(rate)

        def call(self, x, training=False):
            h = self.ln1(x + self.drop1(self.att(x, x), training=training))
            return self.ln2(h + self.drop2(self.ffn(h), training=training))

        def get_config(self):
            extra = {"dim": self.dim, "heads": self.heads, "ff": self.ff, "rate": self.rate}
            return {**super().get_config(), **extra}

    class TokenAndPosition(L.Layer):
        """keras.io: token and position embeddings summed (two Embedding sub-layers)."""

        def __init__(self, maxlen=6, vocab=30, dim=8, **kwargs):
            super().__init__(**kwargs)
            self.maxlen, self.vocab, self.dim = maxlen, vocab, dim
            self.token_emb = L.Embedding(vocab, dim)
            self.pos_emb = L.Embedding(maxlen, dim)

        def call(self, x):
            positions = keras.ops.arange(0, keras.ops.shape(x)[-1])
            return self.token_emb(x) + self.pos_emb(positions)

        def get_config(self):
            extra = {"maxlen": self.maxlen, "vocab": self.vocab, "dim": self.dim}
            return {**super().get_config(), **extra}

    _CUSTOM.update(
        TransformerBlock=register(TransformerBlock), TokenAndPosition=register(TokenAndPosition)
    )
    _define_scales(keras, register)


def _define_scales(keras: Any, register: Callable[[type], type]) -> None:
    L = keras.layers

    class LayerScaleLike(L.Layer):
        """Like keras.applications.convnext.LayerScale: one unnamed weight made in build()."""

        def __init__(self, init_values=1e-6, projection_dim=4, **kwargs):
            super().__init__(**kwargs)
            self.init_values, self.projection_dim = init_values, projection_dim

        def build(self, _):
            self.gamma = self.add_weight(
                shape=(self.projection_dim,),
                initializer=keras.initializers.Constant(self.init_values),
            )

        def call(self, x):
            return x * self.gamma

        def get_config(self):
            extra = {"init_values": self.init_values, "projection_dim": self.projection_dim}
            return {**super().get_config(), **extra}

    class CountingScale(L.Layer):
        """A trainable scale, a non-trainable counter (add_weight(trainable=False)) and a
        non-trainable keras.Variable attribute: Keras lists the last two as non-trainable."""

        def build(self, shape):
            self.scale = self.add_weight(shape=(shape[-1],), initializer="ones", name="scale")
            self.count = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="count"
            )
            self.offset = keras.Variable(
                keras.ops.zeros((shape[-1],)), trainable=False, name="offset"
            )

        def call(self, x):
            return x * self.scale + self.offset + 0.0 * self.count

    _CUSTOM.update(LayerScaleLike=register(LayerScaleLike), CountingScale=register(CountingScale))


def _define_model(keras: Any) -> None:
    L, register = keras.layers, keras.saving.register_keras_serializable(package="keras_corpus")

    class TwoTower(keras.Model):
        """A subclassed keras.Model: two Dense towers, a BatchNormalization, a head."""

        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.left, self.right = L.Dense(units, name="left"), L.Dense(units, name="right")
            self.norm, self.head = L.BatchNormalization(name="norm"), L.Dense(2, name="head")

        def call(self, x):
            return self.head(self.norm(self.left(x) + self.right(x)))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    _CUSTOM["TwoTower"] = register(TwoTower)


# ---- the standard example architectures ------------------------------------------------------


def bilstm_text(keras: Any) -> Any:
    """keras.io "Bidirectional LSTM on IMDB": default names, two stacked Bidirectional."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            L.Embedding(50, 8),
            L.Bidirectional(L.LSTM(6, return_sequences=True)),
            L.Bidirectional(L.LSTM(6)),
            L.Dense(1, activation="sigmoid"),
        ]
    )


def bigru_stacked(keras: Any) -> Any:
    """Three stacked Bidirectional GRUs with default names (functional)."""
    L = keras.layers
    inp = keras.Input((7,), dtype="int32")
    h = L.Embedding(40, 6)(inp)
    h = L.Bidirectional(L.GRU(5, return_sequences=True))(h)
    h = L.Bidirectional(L.GRU(5, return_sequences=True, reset_after=False))(h)
    h = L.Bidirectional(L.GRU(4))(h)
    return keras.Model(inp, L.Dense(2)(h))


def bidir_backward_layer(keras: Any) -> Any:
    """Explicit backward_layer (default and own names); a wrapped layer already named
    forward_* / backward_* (Keras strips the prefix before adding it)."""
    L = keras.layers
    inp = keras.Input((6, 3))
    a = L.Bidirectional(
        L.LSTM(4, return_sequences=True),
        backward_layer=L.LSTM(4, return_sequences=True, go_backwards=True),
    )(inp)
    b = L.Bidirectional(
        L.GRU(3, return_sequences=True, name="fwd"),
        backward_layer=L.GRU(3, return_sequences=True, go_backwards=True, name="bwd"),
        name="named_bidir",
    )(a)
    c = L.Bidirectional(L.LSTM(3, return_sequences=True, name="forward_enc"))(b)
    d = L.Bidirectional(L.SimpleRNN(3, name="backward_dec"))(c)
    return keras.Model(inp, L.Dense(1)(d))


def bidir_merge_modes(keras: Any) -> Any:
    """Every merge_mode (concat, sum, mul, ave, None) on one input."""
    L = keras.layers
    inp = keras.Input((5, 4))
    outs = []
    for mode in ("concat", "sum", "mul", "ave", None):
        out = L.Bidirectional(L.LSTM(3), merge_mode=mode)(inp)
        outs.extend(out if isinstance(out, (list, tuple)) else [out])
    return keras.Model(inp, L.Dense(2)(L.Concatenate()(outs)))


def time_distributed(keras: Any) -> Any:
    """TimeDistributed Conv2D, BatchNormalization, pooling and Dense, then an LSTM."""
    L = keras.layers
    inp = keras.Input((3, 8, 8, 2))
    h = L.TimeDistributed(L.Conv2D(4, 3))(inp)
    h = L.TimeDistributed(L.BatchNormalization())(h)
    h = L.TimeDistributed(L.GlobalAveragePooling2D())(h)
    h = L.TimeDistributed(L.Dense(5))(h)
    return keras.Model(inp, L.Dense(2)(L.LSTM(4)(h)))


def transformer_functional(keras: Any) -> Any:
    """A Transformer encoder block built from functional layers (MultiHeadAttention)."""
    L = keras.layers
    inp = keras.Input((6,), dtype="int32")
    x = L.Embedding(30, 8)(inp)
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(x, x)
    x = L.LayerNormalization(epsilon=1e-6)(x + att)
    ff = L.Dense(8)(L.Dense(16, activation="relu")(x))
    x = L.LayerNormalization(epsilon=1e-6)(x + ff)
    cross = L.MultiHeadAttention(num_heads=1, key_dim=3, value_dim=5, use_bias=False)(x, x)
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling1D()(cross)))


def transformer_custom(keras: Any) -> Any:
    """keras.io text classification with Transformer: registered classes holding sub-layers."""
    L, custom = keras.layers, custom_classes(keras)
    inp = keras.Input((6,), dtype="int32")
    x = custom["TokenAndPosition"](maxlen=6, vocab=30, dim=8)(inp)
    x = custom["TransformerBlock"](dim=8, heads=2, ff=16)(x)
    x = custom["TransformerBlock"](dim=8, heads=2, ff=12, name="block2")(x)
    return keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling1D()(x)))


def conv1d_text(keras: Any) -> Any:
    """keras.io text CNN: Embedding, Conv1D, pooling, Dense."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((12,), dtype="int32"),
            L.Embedding(40, 6),
            L.Conv1D(8, 3, activation="relu"),
            L.MaxPooling1D(2),
            L.Conv1D(8, 3, use_bias=False),
            L.SeparableConv1D(4, 2),
            L.GlobalMaxPooling1D(),
            L.Dense(1),
        ]
    )


def nested_sequential(keras: Any) -> Any:
    """A Sequential in a Sequential in a Functional model."""
    L = keras.layers
    inner = keras.Sequential([keras.Input((4,)), L.Dense(4), L.BatchNormalization()], name="inner")
    middle = keras.Sequential([keras.Input((3,)), L.Dense(4), inner, L.Dense(3)], name="middle")
    inp = keras.Input((3,))
    return keras.Model(inp, L.Dense(2)(middle(L.Dense(3)(inp))))


def shared_layers(keras: Any) -> Any:
    """A Siamese text model: one Embedding and one LSTM used on two inputs."""
    L = keras.layers
    left, right = keras.Input((5,), dtype="int32"), keras.Input((5,), dtype="int32")
    embed, encode = L.Embedding(20, 4), L.LSTM(3)
    head = L.Dense(3)
    merged = L.Concatenate()([head(encode(embed(left))), head(encode(embed(right)))])
    return keras.Model([left, right], L.Dense(1)(merged))


def frozen_submodel(keras: Any) -> Any:
    """A frozen functional sub-model (Conv + BatchNormalization) and a frozen layer."""
    L = keras.layers
    sub_in = keras.Input((8, 8, 3))
    sub_out = L.BatchNormalization()(L.Conv2D(4, 3)(sub_in))
    encoder = keras.Model(sub_in, L.GlobalAveragePooling2D()(sub_out), name="encoder")
    encoder.trainable = False
    inp = keras.Input((8, 8, 3))
    frozen = L.Dense(4, name="frozen_dense")
    frozen.trainable = False
    return keras.Model(inp, L.Dense(2)(frozen(encoder(inp))))


def masking_gru(keras: Any) -> Any:
    """Masking + GRU (+ a masked LSTM) on padded sequences."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((6, 3)),
            L.Masking(0.0),
            L.GRU(4, return_sequences=True),
            L.LSTM(3),
            L.Dense(1),
        ]
    )


def subclassed(keras: Any) -> Any:
    """A subclassed keras.Model (TwoTower), built by calling it."""
    model = custom_classes(keras)["TwoTower"](units=4, name="two_tower")
    model(keras.ops.zeros((1, 3)))
    return model


def custom_nontrainable(keras: Any) -> Any:
    """A custom layer whose variables are created with trainable=False."""
    L = keras.layers
    inp = keras.Input((4,))
    h = custom_classes(keras)["CountingScale"]()(L.Dense(4)(inp))
    return keras.Model(inp, L.Dense(1)(h))


def layerscale_custom(keras: Any) -> Any:
    """A LayerScale-like custom class (unnamed weight) between Dense layers."""
    L = keras.layers
    scale = custom_classes(keras)["LayerScaleLike"]
    inp = keras.Input((4,))
    h = scale(projection_dim=6)(L.Dense(6)(inp))
    h = scale(projection_dim=6, name="scale_two")(L.LayerNormalization()(h))
    return keras.Model(inp, L.Dense(2)(h))


EXAMPLES: dict[str, Callable[[Any], Any]] = {
    f.__name__: f
    for f in (
        bilstm_text, bigru_stacked, bidir_backward_layer, bidir_merge_modes, time_distributed,
        transformer_functional, transformer_custom, conv1d_text, nested_sequential,
        shared_layers, frozen_submodel, masking_gru, subclassed, custom_nontrainable,
        layerscale_custom,
    )
}  # fmt: skip


def build_model(keras: Any, name: str) -> Any:
    """An example architecture or a keras.applications constructor, by name."""
    keras.backend.clear_session()  # default layer names do not depend on what was built before
    return EXAMPLES[name](keras) if name in EXAMPLES else build_app(keras, name)


def save_all(keras: Any, name: str, folder: Path) -> None:
    """Build name, randomize it and write every layout and expected.json into folder/name
    (through a temporary folder, so an interrupted build leaves nothing half-made)."""
    model = build_model(keras, name)
    randomize(model)
    work = folder / f".{name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model.save(work / LAYOUTS["keras"])
    model.save_weights(work / LAYOUTS["weights"])
    _extract_config(work)
    expected = expected_weights(model)
    layouts = {"keras": "ok", "weights": "ok", "h5": "ok"}
    try:
        model.save(work / LAYOUTS["h5"])
    except Exception as exc:  # Keras cannot write this model as legacy .h5
        layouts["h5"] = f"n/a: Keras cannot write it: {str(exc).splitlines()[0][:200]}"
    record = {"model": name, "name": model.name, "class": type(model).__name__}
    record.update(layouts=layouts, weights=expected, keras_version=keras.__version__)
    (work / EXPECTED).write_text(json.dumps(record, indent=1))
    shutil.rmtree(folder / name, ignore_errors=True)
    work.rename(folder / name)


def _extract_config(work: Path) -> None:
    import zipfile

    with zipfile.ZipFile(work / LAYOUTS["keras"]) as archive:
        (work / CONFIG).write_bytes(archive.read(CONFIG))


def build(folder: Path, names: list[str]) -> None:
    """Build every name not yet built in folder; also write apps.json (constructor -> family)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import gc
    import warnings

    import keras

    warnings.filterwarnings("ignore")
    folder.mkdir(parents=True, exist_ok=True)
    families = {n: app_family(f) for n, f in app_constructors(keras).items()}
    (folder / "apps.json").write_text(json.dumps(families, indent=1))
    for name in names:
        if not (folder / name / EXPECTED).exists():
            save_all(keras, name, folder)
            gc.collect()


# ---- reading with TensorFlow blocked, and comparing --------------------------------------------


class _Blocker:
    """A meta path finder refusing TensorFlow and Keras: the direct readers must not need them."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import of {name} (the direct reader must not need it)")


def block_tensorflow() -> None:
    """Make every later import of tensorflow/keras/tf_keras fail in this process."""
    if any(m.split(".")[0] in BLOCKED for m in sys.modules):
        raise AssertionError("tensorflow or keras is already imported")
    sys.meta_path.insert(0, _Blocker())


def h5_mismatches(folder: Path) -> tuple[list[str], int]:
    """(mismatches, scoped) between the expected names and the legacy .h5's own weight_names
    (variable paths at save time, FORMATS.md). Within a layer group the order may differ
    (trainable first); a Sequential model's names may carry the model name in front; and a
    path may hold name scopes that are no layer (NASNet: `layer/<scope>/layer/kernel`): such a
    name matches the expected name of the same layer it ends with, and is counted in scoped."""
    record = json.loads((folder / EXPECTED).read_text())
    want = [row["name"] for row in record["weights"]]
    stored = _h5_weight_names(folder / LAYOUTS["h5"], record["name"])
    extra = [n for n in stored if n not in want]
    left = [n for n in want if n not in stored]
    scoped = {e: n for e in extra for n in left if e.endswith(f"/{n}") and _top(e) == _top(n)}
    problems = [f"only in .h5: {n}" for n in extra if n not in scoped]
    problems += [f"missing from .h5: {n}" for n in left if n not in scoped.values()]
    if len(stored) != len(want):
        problems.append(f".h5 holds {len(stored)} weights, Keras {len(want)}")
    return problems, len(scoped)


def _top(name: str) -> str:
    return name.split("/", 1)[0]


def _h5_weight_names(path: Path, model_name: str) -> list[str]:
    """Every weight name of a legacy .h5, as `<layer group>/<name>` (model-name prefix and
    `:0` removed; the group in front only where the name does not start with it)."""
    import h5py

    names = []
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"]
        for layer in _attr_list(group, "layer_names"):
            for weight in _attr_list(group[layer], "weight_names"):
                name = weight.removesuffix(":0").removeprefix(f"{model_name}/")
                names.append(name if name.startswith(f"{layer}/") else f"{layer}/{name}")
    return names


def _attr_list(group: Any, key: str) -> list[str]:
    values = list(group.attrs.get(key, []))
    for index in range(10_000):  # layer_names0, layer_names1, ... (HDF5 header limit)
        if f"{key}{index}" not in group.attrs:
            break
        values += list(group.attrs[f"{key}{index}"])
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_layout(folder: Path, layout: str) -> dict[str, Any]:
    """What exporter's direct reader makes of one layout: tensors (name, dtype, shape, sha256,
    trainable), naming and warnings; or the error (exit code, one-line message)."""
    import warnings

    import exporter
    from exporter.core.errors import ExporterError

    config = str(folder / CONFIG) if layout == "weights" else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ws = exporter.load(folder / LAYOUTS[layout], config=config)
            rows = [_row(t) for t in ws]
    except ExporterError as exc:
        return {"error": f"exit {exc.exit_code}: {exc}"}
    except Exception as exc:  # a bug: exit 4 for a user
        return {"error": f"internal error (exit 4): {type(exc).__name__}: {exc}"}
    notes = [*ws.info.warnings, *(str(w.message) for w in caught)]
    return {"tensors": rows, "naming": ws.info.naming, "warnings": notes}


def _row(tensor: Any) -> dict[str, Any]:
    array = tensor.read()
    return {
        "name": tensor.name,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "sha256": value_digest(array),
        "trainable": tensor.trainable,
    }


def read_all(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """{model: {layout: read_layout(...)}} for every layout Keras could write."""
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        record = json.loads((folder / name / EXPECTED).read_text())
        results[name] = {
            layout: read_layout(folder / name, layout)
            for layout, state in record["layouts"].items()
            if state == "ok"
        }
    return results


def compare(expected: list[dict[str, Any]], got: dict[str, Any]) -> tuple[str, str]:
    """(status, detail) of one read against Keras: "ok"; "warn" (order and values right, names
    not certain and the reader says so); or "FAIL" with what differs."""
    if "error" in got:
        return "FAIL", got["error"][:400]
    rows = got["tensors"]
    if len(rows) != len(expected):
        return "FAIL", f"{len(rows)} tensors read, the file holds {len(expected)} (incomplete)"
    moved = _differ(
        expected,
        rows,
        lambda e, r: (
            e["sha256"] != r["sha256"] or e["shape"] != r["shape"] or e["dtype"] != r["dtype"]
        ),
    )
    if moved:
        return "FAIL", _misplaced(expected, rows, moved)
    flags = _differ(expected, rows, lambda e, r: r["trainable"] not in (None, e["trainable"]))
    if flags:
        return "FAIL", "trainable flag wrong: " + _examples(expected, rows, flags, "trainable")
    wrong = _differ(expected, rows, lambda e, r: e["name"] != r["name"])
    if not wrong:
        return "ok", ""
    shown = _examples(expected, rows, wrong, "name")
    if got["naming"] != "canonical" and got["warnings"]:
        return "warn", f"{len(wrong)} names uncertain (said so): {shown}"
    said = "a warning but manifest naming 'canonical'" if got["warnings"] else "silently"
    return "FAIL", f"{len(wrong)} names wrong ({said}): {shown}"


def _differ(
    expected: list[dict], rows: list[dict], test: Callable[[dict, dict], bool]
) -> list[int]:
    return [i for i, (e, r) in enumerate(zip(expected, rows, strict=True)) if test(e, r)]


def _misplaced(expected: list[dict], rows: list[dict], moved: list[int]) -> str:
    where = {r["sha256"]: i for i, r in enumerate(rows)}
    shown = []
    for i in moved[:3]:
        found = where.get(expected[i]["sha256"])
        at = (
            f"read at position {found} as {rows[found]['name']!r}"
            if found is not None
            else "not read"
        )
        shown.append(f"#{i} {expected[i]['name']!r} {at}")
    return f"{len(moved)} of {len(rows)} tensors differ in value/dtype/shape/order: " + "; ".join(
        shown
    )


def _examples(expected: list[dict], rows: list[dict], index: list[int], key: str) -> str:
    shown = [f"#{i} keras {expected[i][key]!r} read {rows[i][key]!r}" for i in index[:3]]
    return "; ".join(shown) + (" ..." if len(index) > 3 else "")


# ---- conversion: tf2onnx alone, as a user would call it ---------------------------------------


def tf2onnx_direct(path: Path, out: Path, opset: int = 17) -> dict[str, Any]:
    """Convert a .keras file with tf2onnx alone (`from_function`, explicit signature, as
    FORMATS.md and exporter do) and run it in onnxruntime against Keras on one seeded batch.
    {"ok": bool, "max_abs": float | None, "error": str | None}."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    try:
        model, proto = _tf2onnx_convert(path, opset)
        out.write_bytes(proto.SerializeToString())
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        feeds = {
            i.name: rng.random((2, *i.shape[1:]), dtype=np.float32) for i in session.get_inputs()
        }
        got = session.run(None, feeds)
        want = model(*[feeds[i.name] for i in session.get_inputs()], training=False)
        want = [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]
        max_abs = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want, strict=True))
        close = all(np.allclose(g, w, atol=1e-4, rtol=1e-3) for g, w in zip(got, want, strict=True))
        return {"ok": close, "max_abs": max_abs, "error": None if close else "outputs differ"}
    except Exception as exc:
        return {"ok": False, "max_abs": None, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def _tf2onnx_convert(path: Path, opset: int) -> tuple[Any, Any]:
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(path, compile=False)
    signature = [
        tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=f"input_{i}")
        for i, t in enumerate(model.inputs)
    ]

    def call(*arrays: Any) -> Any:
        return model(arrays[0] if len(arrays) == 1 else list(arrays), training=False)

    function = tf.function(call, input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    return model, proto


def all_names() -> list[str]:
    """Every example architecture and every keras.applications constructor (imports Keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return [*EXAMPLES, *app_constructors(keras)]


def main(argv: list[str]) -> int:
    """`build DIR NAME...` (imports Keras), `read DIR OUT.json NAME...` (TensorFlow blocked) or
    `tf2onnx MODEL.keras OUT.onnx` (prints tf2onnx_direct's JSON)."""
    command, folder = argv[0], Path(argv[1])
    if command == "build":
        build(folder, argv[2:])
        return 0
    if command == "read":
        block_tensorflow()
        results = read_all(folder, argv[3:])
        leaked = sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))
        if leaked:
            raise AssertionError(f"imported while reading: {leaked}")
        Path(argv[2]).write_text(json.dumps(results))
        return 0
    if command == "list":
        print("\n".join(all_names()))
        return 0
    if command == "tf2onnx":
        print(json.dumps(tf2onnx_direct(folder, Path(argv[2]))))
        return 0
    raise SystemExit(
        f"usage: {sys.argv[0]} build DIR NAME... | read DIR OUT.json NAME... | tf2onnx M.keras OUT | list -"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
