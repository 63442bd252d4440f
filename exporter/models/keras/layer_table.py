"""Generate `layers.json`: every built-in Keras layer class's variables, from Keras itself.

    python -m exporter.models.keras.layer_table            # rewrite the data file
    python -m exporter.models.keras.layer_table --check    # exit 1 when it differs from Keras

For each layer class in `keras.layers` (and the layer classes defined inside keras.applications,
such as ConvNeXt's LayerScale) the generator instantiates and builds the layer, gives every
variable a distinct value, saves it with Keras's own saving code (`saving_lib._save_state`, what
`save_weights` runs per layer) and reads the file back, so each entry says, in `layer.weights`
order: the dataset path relative to the layer's group (`vars/0`, `_query_dense/vars/1`), the
canonical name relative to the layer (DESIGN.md: sub-layer names + the variable's short name; null
when Keras gives it an auto-numbered name such as `variable_3`) and the trainable flag. Every
configuration flag that changes these (use_bias, center, scale, bias_axes, ...) is found by
flipping it, and each combination is recorded. The reader (keras_config) uses only the data file.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("layers.json")
# Wrappers whose sub-layers come from their config: named by keras_config's own handlers.
FROM_CONFIG = ("Bidirectional", "TimeDistributed", "RNN", "StackedRNNCells", "Wrapper")
NOT_PROBED = ("Lambda", "TFSMLayer", "JaxLayer", "FlaxLayer", "TorchModuleWrapper", "Pipeline")
ARGS: dict[str, Any] = {
    "activation": "relu", "output_size": 2, "rate": 0.5, "pool_size": 1, "height": 2,
    "width": 2, "filters": 2, "kernel_size": 1, "units": 3, "axes": -1,
    "equation": "ab,bc->ac", "output_shape": 3, "input_dim": 5, "output_dim": 3,
    "num_heads": 2, "key_dim": 2, "head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1,
    "num_bins": 3, "max_number": 2, "dims": (1,), "factor": 0.1, "height_factor": 0.1,
    "width_factor": 0.1, "n": 2, "scale": 1.0, "target_shape": (-1,), "stddev": 0.1,
    "init_values": 1e-6, "projection_dim": 3,
}  # fmt: skip
# Settings that are not booleans but add or remove variables: flag -> the keyword arguments
# that turn it on (the flag's value in a config is then "is not None").
PROBES: dict[str, dict[str, dict[str, Any]]] = {
    "EinsumDense": {"bias_axes": {"bias_axes": "c"}},
    "Normalization": {"mean": {"mean": 0.0, "variance": 1.0}},
}
# Constructor settings some classes need to build on the small probe inputs.
EXTRA: dict[str, dict[str, Any]] = {
    "GroupNormalization": {"groups": 1}, "CategoryEncoding": {"num_tokens": 4},
    "Discretization": {"num_bins": 3}, "RandomPosterization": {"factor": 2},
    "StochasticDepth": {"drop_path_rate": 0.1},
    "STFTSpectrogram": {"frame_length": 2, "fft_length": 2},
}  # fmt: skip
MAX_FLAGS = 4


def layer_classes(keras: Any) -> dict[str, tuple[type, str | None]]:
    """name -> (class, module or None): keras.layers, then classes inside keras.applications."""
    import importlib
    import pkgutil

    found: dict[str, tuple[type, str | None]] = {}
    for name in sorted(dir(keras.layers)):
        cls = getattr(keras.layers, name)
        if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer):
            found.setdefault(cls.__name__, (cls, None))
    apps = importlib.import_module("keras.src.applications")
    for info in pkgutil.iter_modules(apps.__path__):
        module = importlib.import_module(f"keras.src.applications.{info.name}")
        for name, cls in sorted(vars(module).items()):
            is_layer = inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)
            if is_layer and cls.__module__ == module.__name__:
                found.setdefault(name, (cls, module.__name__))
    return found


def _arguments(cls: type, keras: Any) -> dict[str, Any]:
    """Values for the constructor's required parameters."""
    args: dict[str, Any] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.default is not inspect.Parameter.empty or name in ("self", "args", "kwargs"):
            continue
        if name == "cell":
            args[name] = keras.layers.LSTMCell(2)
        elif name == "cells":
            args[name] = [keras.layers.LSTMCell(2), keras.layers.LSTMCell(2)]
        elif name == "layer":
            args[name] = keras.layers.LSTM(2) if cls.__name__ == "Bidirectional" else None
            args[name] = args[name] or keras.layers.Dense(2)
        elif name in EXTRA.get(cls.__name__, {}):
            continue
        elif name in ARGS:
            args[name] = ARGS[name]
        else:
            raise TypeError(f"no probe value for required argument {name!r}")
    return {**args, **EXTRA.get(cls.__name__, {})}


def built(cls: type, kwargs: dict[str, Any], keras: Any) -> Any:
    """A fresh instance of cls, built by calling it on the first input it accepts."""
    import numpy as np

    error = "no input"
    for rank in (2, 3, 4, 5, 6):
        shape = (2,) + (4,) * (rank - 2) + (3,)
        for x in (np.ones(shape, "float32"), np.ones(shape, "int32")):
            for form in ("one", "two", "list"):
                layer = cls(**_arguments(cls, keras), **kwargs)
                args = {"one": (x,), "two": (x, x), "list": ([x, x],)}[form]
                try:
                    layer(*args)
                    return layer
                except Exception as exc:  # try the next input form
                    error = type(exc).__name__
    raise RuntimeError(f"could not build ({error})")


def _names(layer: Any) -> dict[int, str]:
    """id(variable) -> canonical name relative to the layer (DESIGN.md layer-tree rule)."""
    names: dict[int, str] = {}

    def walk(current: Any, prefix: str) -> None:
        for variable in current._trainable_variables + current._non_trainable_variables:
            names.setdefault(id(variable), "/".join(p for p in (prefix, variable.name) if p))
        for sub in current._layers:
            walk(sub, "/".join(p for p in (prefix, sub.name) if p))

    walk(layer, "")
    return names


def _saved_paths(layer: Any) -> dict[int, str]:
    """id(variable) -> dataset path relative to the layer's group, from a real Keras save."""
    import h5py
    import numpy as np
    from keras.src.saving import saving_lib

    weights = layer.weights
    for index, variable in enumerate(weights):
        variable.assign(np.full(variable.shape, 100 + index, variable.dtype))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.weights.h5")
        store = saving_lib.H5IOStore(path, mode="w")
        saving_lib._save_state(layer, store, None, "", set())
        store.close()
        found: dict[int, str] = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda name, item: _match(name, item, weights, found))
    return found


def _match(name: str, item: Any, weights: list[Any], found: dict[int, str]) -> None:
    if not hasattr(item, "shape") or item.size == 0:
        return
    index = int(item[()].flat[0]) - 100
    if 0 <= index < len(weights) and id(weights[index]) not in found:
        found[id(weights[index])] = name.lstrip("/")


def entries(layer: Any) -> list[list[Any]]:
    """[[dataset path or None, name, trainable], ...] in layer.weights order."""
    names, paths = _names(layer), _saved_paths(layer)
    trainable = {id(v) for v in layer.trainable_weights}
    return [[paths.get(id(v)), names.get(id(v)), id(v) in trainable] for v in layer.weights]


def _flags(cls: type, keras: Any) -> dict[str, Any]:
    """Candidate flags: the boolean settings of the default config, plus PROBES."""
    config = built(cls, {}, keras).get_config()
    flags = {k: v for k, v in config.items() if isinstance(v, bool) and k != "trainable"}
    for key in PROBES.get(cls.__name__, {}):
        flags[key] = config.get(key) is not None
    return flags


def _kwargs(cls: type, flags: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, value in flags.items():
        probe = PROBES.get(cls.__name__, {}).get(key)
        if probe is None:
            kwargs[key] = value
        elif value:
            kwargs.update(probe)
    return kwargs


def describe(cls: type, keras: Any) -> dict[str, Any]:
    """The table entry of one class: its relevant flags (with defaults) and one variant per
    combination of them."""
    defaults = _flags(cls, keras)
    base = _layout(cls, {}, keras)
    relevant = {}
    for key, value in defaults.items():
        try:
            if _layout(cls, _kwargs(cls, {key: not value}), keras) != base:
                relevant[key] = value
        except Exception:  # the flag cannot be flipped on its own: not a variable setting
            continue
    keys = sorted(relevant)[:MAX_FLAGS]
    variants = {}
    for values in itertools.product((False, True), repeat=len(keys)):
        setting = dict(zip(keys, values, strict=True))
        try:
            variants[variant_key(setting)] = _stable(cls, _kwargs(cls, setting), keras)
        except Exception:
            continue
    return {"flags": {k: relevant[k] for k in keys}, "variants": variants}


def _layout(cls: type, kwargs: dict[str, Any], keras: Any) -> list[tuple[Any, bool]]:
    """(dataset path, trainable) of one build: what a flag must change to matter."""
    return [(path, flag) for path, _, flag in entries(built(cls, kwargs, keras))]


def _stable(cls: type, kwargs: dict[str, Any], keras: Any) -> list[list[Any]]:
    """Entries of two fresh builds, names that differ between them (auto-numbered) as None."""
    first = entries(built(cls, {"name": "probe", **kwargs}, keras))
    second = entries(built(cls, {"name": "probe", **kwargs}, keras))
    if [e[0] for e in first] != [e[0] for e in second]:
        raise RuntimeError("the saved layout differs between two builds")
    return [
        [a[0], a[1] if a[1] == b[1] else None, a[2]] for a, b in zip(first, second, strict=True)
    ]


def variant_key(setting: dict[str, Any]) -> str:
    """The key of one flag combination: `center=1,scale=0` (empty for no flags)."""
    return ",".join(f"{k}={int(bool(v))}" for k, v in sorted(setting.items()))


def generate() -> dict[str, Any]:
    """The whole table, as written to layers.json."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as the test suite runs it
    import keras

    layers: dict[str, Any] = {}
    for name, (cls, module) in sorted(layer_classes(keras).items()):
        if name in FROM_CONFIG or name in NOT_PROBED:
            layers[name] = {"from_config": name in FROM_CONFIG}
            continue
        try:
            layers[name] = describe(cls, keras)
        except Exception as exc:  # the reader names this class structurally, with a warning
            layers[name] = {"error": f"not probed: {type(exc).__name__}"}
        if module:
            layers[name]["module"] = module
    return {"keras_version": keras.__version__, "layers": layers}


def main(argv: list[str] | None = None) -> int:
    """Write the table, or with --check compare it with the committed one (exit 1 if different)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args(argv)
    table = generate()
    text = json.dumps(table, indent=1, sort_keys=True) + "\n"
    if not args.check:
        args.out.write_text(text)
        return 0
    old = json.loads(args.out.read_text())
    changed = sorted(
        n for n in set(old["layers"]) | set(table["layers"])
        if old["layers"].get(n) != table["layers"].get(n)
    )  # fmt: skip
    if changed:
        print(f"layers.json differs from Keras {table['keras_version']}: {changed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
