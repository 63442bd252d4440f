"""Each Keras layer class's variables in `layer.weights` order, from its config.

A `.weights.h5` (layout D in FORMATS.md) stores `layers/<snake_case class>[_k]/vars/<i>` and no
variable names, so names and order come from the config (config.layer_tree): a layer class's
variable order names `vars/<i>`, honouring flags such as `use_bias`, `center`, `scale`. Keras 3
classes come from the generated table (layers.json, see layer_table.py), tf-keras classes and
wrappers from the hand-written slots below. Nothing in a config is ever executed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.core.errors import InputError
from exporter.models.keras.config import LayerNode, layer_tree, to_snake_case


@dataclass(frozen=True)
class Slot:
    """Where a layer keeps variables: its own `vars` (child None) or a tracked child layer.

    A class from the generated table (layers.json) gives `entries` instead: (dataset path
    relative to the layer's group, name relative to the layer or None when Keras numbers it
    automatically, trainable), in `layer.weights` order.

    For a child, attrs are the candidate attribute paths of its group (they differ between
    Keras 3 and tf-keras; empty for a nested model's layers, which live under `layers/`).
    """

    variables: tuple[str, ...] = ()
    non_trainable: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    child: LayerNode | None = None
    entries: tuple[tuple[str, str | None, bool], ...] = ()  # from layers.json


def _flag(cfg: dict[str, Any], key: str, default: bool = True) -> bool:
    value = cfg.get(key, default)
    return default if value is None else bool(value)


def _own(*names: str | None, frozen: tuple[str, ...] = ()) -> list[Slot]:
    return [Slot(variables=tuple(n for n in names if n), non_trainable=frozen)]


def _kernel_bias(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    slots = _own("kernel", "bias" if _flag(cfg, "use_bias") else None)
    if cfg.get("lora_rank"):
        slots = _own(*slots[0].variables, "lora_kernel_a", "lora_kernel_b")
    return slots


def _depthwise(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    kernel = "depthwise_kernel" if legacy else "kernel"  # FORMATS.md: tf-keras vs Keras 3
    return _own(kernel, "bias" if _flag(cfg, "use_bias") else None)


def _separable(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    bias = "bias" if _flag(cfg, "use_bias") else None
    return _own("depthwise_kernel", "pointwise_kernel", bias)


def _einsum_dense(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("kernel", "bias" if cfg.get("bias_axes") else None)


def _batch_norm(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    frozen = ("moving_mean", "moving_variance")
    gamma = "gamma" if _flag(cfg, "scale") else None
    beta = "beta" if _flag(cfg, "center") else None
    if cfg.get("renorm"):
        names = (gamma, beta, *frozen, "moving_stddev", "renorm_mean", "renorm_stddev")
        return _own(*names, frozen=(*frozen, "moving_stddev", "renorm_mean", "renorm_stddev"))
    return _own(gamma, beta, *frozen, frozen=frozen)


def _gamma_beta(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("gamma" if _flag(cfg, "scale") else None, "beta" if _flag(cfg, "center") else None)


def _normalization(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    if cfg.get("mean") is not None:
        return []
    frozen = ("mean", "variance", "count")
    return _own(*frozen, frozen=frozen)


def _rnn(cell_class: str, cell_name: str) -> Callable[[dict[str, Any], bool], list[Slot]]:
    def slots(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
        cell = LayerNode(cell_class, cell_name, {"use_bias": _flag(cfg, "use_bias")})
        return [Slot(attrs=("cell",), child=cell)]

    return slots


def _rnn_cell(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return _own("kernel", "recurrent_kernel", "bias" if _flag(cfg, "use_bias") else None)


def _multi_head_attention(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    bias_axes = "x" if _flag(cfg, "use_bias") else None
    parts = (("query", "query"), ("key", "key"), ("value", "value"), ("output", "attention_output"))
    return [
        Slot(
            attrs=(f"{attr}_dense", f"_{attr}_dense"),
            child=LayerNode("EinsumDense", name, {"bias_axes": bias_axes}),
        )
        for attr, name in parts
    ]


def _wrapped(cfg: dict[str, Any], key: str) -> LayerNode:
    sub = cfg.get(key)
    if not isinstance(sub, dict):
        raise InputError(f"layer config has no {key!r}")
    return layer_tree(sub)


def _time_distributed(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    return [Slot(attrs=("layer",), child=_wrapped(cfg, "layer"))]


def _bidirectional(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    """Keras 3 names the forward layer `forward_` + the wrapped name without a `forward_`
    prefix, and uses a given backward_layer (its config always holds one) as it is; tf-keras
    prefixes both, always (keras/src/layers/rnn/bidirectional.py, tf_keras's likewise)."""
    forward = _wrapped(cfg, "layer")
    given = isinstance(cfg.get("backward_layer"), dict)
    backward = _wrapped(cfg, "backward_layer" if given else "layer")
    if legacy:
        forward.name, backward.name = f"forward_{forward.name}", f"backward_{backward.name}"
    else:
        forward.name = f"forward_{forward.name.removeprefix('forward_')}"
        if not given:
            backward.name = f"backward_{backward.name.removeprefix('backward_')}"
    return [
        Slot(attrs=("forward_layer",), child=forward),
        Slot(attrs=("backward_layer",), child=backward),
    ]


def _rnn_layer(cfg: dict[str, Any], legacy: bool) -> list[Slot]:
    """keras.layers.RNN: the cell comes from the config."""
    return [Slot(attrs=("cell",), child=_wrapped(cfg, "cell"))]


LAYER_SLOTS: dict[str, Callable[[dict[str, Any], bool], list[Slot]]] = {
    "Dense": _kernel_bias,
    "Conv1D": _kernel_bias,
    "Conv2D": _kernel_bias,
    "Conv3D": _kernel_bias,
    "Conv1DTranspose": _kernel_bias,
    "Conv2DTranspose": _kernel_bias,
    "Conv3DTranspose": _kernel_bias,
    "DepthwiseConv1D": _depthwise,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable,
    "SeparableConv2D": _separable,
    "EinsumDense": _einsum_dense,
    "BatchNormalization": _batch_norm,
    "LayerNormalization": _gamma_beta,
    "GroupNormalization": _gamma_beta,
    "Normalization": _normalization,
    "Embedding": lambda cfg, legacy: _own("embeddings"),
    "PReLU": lambda cfg, legacy: _own("alpha"),
    "LSTM": _rnn("LSTMCell", "lstm_cell"),
    "GRU": _rnn("GRUCell", "gru_cell"),
    "SimpleRNN": _rnn("SimpleRNNCell", "simple_rnn_cell"),
    "LSTMCell": _rnn_cell,
    "GRUCell": _rnn_cell,
    "SimpleRNNCell": _rnn_cell,
    "MultiHeadAttention": _multi_head_attention,
    "TimeDistributed": _time_distributed,
    "Bidirectional": _bidirectional,
}
# Layers whose sub-layers come from their own config: named here, not by the generated table.
WRAPPERS: dict[str, Callable[[dict[str, Any], bool], list[Slot]]] = {
    "TimeDistributed": _time_distributed,
    "Bidirectional": _bidirectional,
    "RNN": _rnn_layer,
}
LAYER_TABLE = Path(__file__).with_name("layers.json")


@functools.lru_cache(maxsize=1)
def layer_table() -> dict[str, Any]:
    """The generated table of Keras 3 layer classes (see keras_layer_table)."""
    return json.loads(LAYER_TABLE.read_text())["layers"]


def _table_entry(node: LayerNode) -> dict[str, Any] | None:
    """The table entry of a built-in class: module and registered name must be Keras's own, so
    a custom class that shares a built-in's name is never named from the table."""
    entry = layer_table().get(node.class_name)
    if entry is None or "variants" not in entry:
        return None
    if node.registered not in (None, node.class_name):
        return None
    if entry.get("module"):
        return entry if node.module == entry["module"] else None
    return entry if node.module is None or node.module.startswith("keras.") else None


def variant_key(entry: dict[str, Any], cfg: dict[str, Any]) -> str:
    """The table variant a config selects (as keras_layer_table.variant_key writes it): a
    boolean setting as it is, a missing or None one as the class default, any other value
    (bias_axes "x", a given mean) as on."""
    setting = {}
    for key, default in entry["flags"].items():
        value = cfg.get(key)
        setting[key] = default if value is None else value if isinstance(value, bool) else True
    return ",".join(f"{k}={int(bool(v))}" for k, v in sorted(setting.items()))


def _table_slots(node: LayerNode) -> list[Slot] | None:
    entry = _table_entry(node)
    if entry is None:
        return None
    rows = entry["variants"].get(variant_key(entry, node.config))
    if rows is None:
        return None
    return [Slot(entries=tuple((path, name, bool(flag)) for path, name, flag in rows))]


def layer_slots(node: LayerNode, legacy: bool) -> list[Slot] | None:
    """The variable slots of a layer in `layer.weights` order, or None for an unknown class.

    Keras 3: wrappers from their config, every other built-in class from the generated table.
    tf-keras (legacy): the hand-written LAYER_SLOTS (its variable names differ from Keras 3).
    """
    if node.is_model:
        return [Slot()] + [
            Slot(attrs=(group,), child=child) for group, child in model_child_groups(node)
        ]
    if node.class_name in WRAPPERS and (node.module or "keras").startswith("keras"):
        return WRAPPERS[node.class_name](node.config, legacy)
    if not legacy:
        return _table_slots(node)
    spec = LAYER_SLOTS.get(node.class_name)
    return None if spec is None else spec(node.config, legacy)


def variable_trainable(node: LayerNode, rest: list[str], legacy: bool) -> bool | None:
    """The trainable flag the class table gives variable `rest` (its path below node), or None
    when the class (or the variable) is unknown."""
    slots = layer_slots(node, legacy)
    for slot in slots or []:
        if slot.child is not None:
            if len(rest) > 1 and slot.child.name == rest[0]:
                return variable_trainable(slot.child, rest[1:], legacy)
            continue
        if len(rest) == 1 and rest[0] in slot.variables:
            return rest[0] not in slot.non_trainable
        for _, name, trainable in slot.entries:
            if name is not None and name == "/".join(rest):
                return trainable
    return None


def model_child_groups(node: LayerNode) -> Iterator[tuple[str, LayerNode]]:
    """(group path, child) of a model's layers: `layers/<snake_case class>[_k]` per class."""
    used: dict[str, int] = {}
    for child in node.children:
        base = to_snake_case(child.class_name)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        yield (f"layers/{base}" if count is None else f"layers/{base}_{count + 1}"), child
