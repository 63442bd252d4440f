"""Hostile Keras configs: code and foreign functions outside Lambda layers (issue #12, class 2).

Each config holds something tf-keras or Keras would run while building the model: marshalled
bytecode in a wrapper's function argument (tf-keras `func_dump`, `*_fn_type: "lambda"`), a bare
bytecode blob, or a function taken from Python's standard library or builtins. The bytecode,
if it ever ran, would create `payload_ran` beside the file (test_corpus_case checks it does not).
The direct reader (`inspect`, `export`) refuses them; tests/test_sec_keras.py covers the routes
that load through Keras.
"""

from __future__ import annotations

import base64
import marshal
from pathlib import Path

from hostile_corpus import Case, dense_config, keras_zip, legacy_h5


def payload_code(marker: Path) -> str:
    """tf-keras func_dump of a function that creates marker: base64 of marshalled bytecode."""
    source = f"lambda *args: (open({str(marker)!r}, 'w').close(), args[-1])[1]"
    code = eval(compile(source, "<payload>", "eval")).__code__  # our own source
    return base64.encodebytes(marshal.dumps(code)).decode("ascii")


def residual_wrapper_layer(marker: Path) -> dict:
    """An RNN whose cell is a tf-keras ResidualWrapper with a marshalled residual_fn."""
    cell = {"class_name": "LSTMCell", "config": {"name": "lstm_cell", "units": 2}}
    wrapper = {
        "module": "tf_keras.src.layers.rnn.cell_wrappers",
        "class_name": "ResidualWrapper",
        "config": {
            "name": "residual_wrapper",
            "cell": cell,
            "residual_fn": [payload_code(marker), None, None],
            "residual_fn_type": "lambda",
            "residual_fn_module": "__main__",
        },
        "registered_name": None,
    }
    return {
        "module": "keras.layers",
        "class_name": "RNN",
        "config": {"name": "rnn", "cell": wrapper},
    }


def blob_layer(marker: Path) -> dict:
    """A layer with bytecode under a key no rule names (found by its content alone)."""
    config = {"name": "odd", "units": 2, "hook": payload_code(marker)}
    return {"module": "keras.layers", "class_name": "Dense", "config": config}


def function_activation(module: str, name: str) -> dict:
    """A Dense layer whose activation is a function reference {"class_name": "function"}."""
    activation = {"module": module, "class_name": "function", "config": name}
    activation["registered_name"] = "function"
    config = {"name": "act", "units": 2, "activation": activation}
    return {"module": "keras.layers", "class_name": "Dense", "config": config}


def _h5(name: str, layer):
    def build(folder: Path) -> Path:
        extra = layer(folder / "payload_ran") if callable(layer) else layer
        return legacy_h5(folder / name, dense_config(extra_layers=[extra]))

    return build


def _keras(name: str, layer):
    def build(folder: Path) -> Path:
        extra = layer(folder / "payload_ran") if callable(layer) else layer
        return keras_zip(folder / name, dense_config(extra_layers=[extra]))

    return build


CASES: list[Case] = [
    Case("h5-wrapper-bytecode", _h5("wrap.h5", residual_wrapper_layer), 3, "code.*--trust"),
    Case("keras-wrapper-bytecode", _keras("wrap.keras", residual_wrapper_layer), 3, "bytecode"),
    Case("keras-bytecode-blob", _keras("blob.keras", blob_layer), 3, "odd.*bytecode"),
    Case(
        "keras-activation-os-system",
        _keras("act_os.keras", function_activation("os", "system")),
        3,
        r"os\.system.*refused",
    ),
    Case(
        "h5-activation-builtin-eval",
        _h5("act_eval.h5", function_activation("builtins", "eval")),
        3,
        "builtin 'eval'.*refused",
    ),
]
