"""Keras model configs read as data: the layer tree and each layer class's variable order.

A `.weights.h5` (layout D in FORMATS.md) stores `layers/<snake_case class>[_k]/vars/<i>` and no
variable names, so names and order come from the config: walk `config.layers`, recurse into nested
models and known wrappers, and name `vars/<i>` from the class's variable order, honouring flags
such as `use_bias`, `center`, `scale`. Nothing in a config is ever executed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, UnsafeInputError

MODEL_CLASSES = ("Functional", "Sequential", "Model")


@dataclass
class LayerNode:
    """One layer of a config: class, name, config dict, and children (nested model layers)."""

    class_name: str
    name: str
    config: dict[str, Any]
    trainable: bool = True
    children: list[LayerNode] = field(default_factory=list)

    @property
    def is_model(self) -> bool:
        return self.class_name in MODEL_CLASSES and "layers" in self.config


def to_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the group name Keras gives a class in .weights.h5."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def parse_json(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{where}: model config is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "class_name" not in data:
        raise InputError(f"{where}: not a Keras model config (no class_name)")
    return data


def layer_tree(config: dict[str, Any], parent_trainable: bool = True) -> LayerNode:
    """The LayerNode tree of a serialized layer or model (nested models recursed)."""
    inner = config.get("config") or {}
    trainable = parent_trainable and inner.get("trainable", True) is not False
    node = LayerNode(
        class_name=str(config.get("class_name", "")),
        name=str(inner.get("name", "")),
        config=inner,
        trainable=trainable,
    )
    if node.is_model:
        for child in inner.get("layers") or []:
            if node.class_name == "Sequential" and child.get("class_name") == "InputLayer":
                continue  # Sequential.layers has no InputLayer
            node.children.append(layer_tree(child, trainable))
    return node


def lambda_layers(node: LayerNode) -> list[str]:
    """Names of Lambda layers (code we never run, noted for the user)."""
    found = [node.name] if node.class_name == "Lambda" else []
    for child in node.children:
        found.extend(lambda_layers(child))
    return found


# ---- code and foreign objects in a config -------------------------------------------------

# A serialized Keras object names the module its class comes from. Keras objects never come from
# Python's standard library (os, subprocess, builtins, ...): a config naming one is crafted.
FOREIGN_MODULES = frozenset(sys.stdlib_module_names) - {"__future__"}


def _top(module: str) -> str:
    return module.split(".")[0].strip()


def config_hazards(config: Any) -> tuple[list[str], list[str]]:
    """(code, foreign) found anywhere in a config: Lambda layers and `__lambda__` functions
    (marshalled bytecode), and objects whose module or registered package is a stdlib module."""
    code: list[str] = []
    foreign: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for value in item:
                walk(value)
            return
        if not isinstance(item, dict):
            return
        cls = item.get("class_name")
        inner = item.get("config")
        if cls == "Lambda":
            name = inner.get("name") if isinstance(inner, dict) else None
            code.append(f"Lambda layer {name or '?'!s}")
        elif cls == "__lambda__":
            code.append("a __lambda__ function")
        module = item.get("module")
        if isinstance(module, str) and _top(module) in FOREIGN_MODULES:
            foreign.append(f"module {module!r} ({cls})")
        registered = item.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            package = registered.split(">")[0]
            if _top(package) in FOREIGN_MODULES:
                foreign.append(f"registered_name {registered!r}")
        for value in item.values():
            walk(value)

    walk(config)
    return sorted(set(code)), sorted(set(foreign))


def audit_config(config: Any, where: str, trust: bool) -> list[str]:
    """Refuse foreign objects always and code unless trust; returns the code found (trusted)."""
    code, foreign = config_hazards(config)
    if foreign:
        raise UnsafeInputError(
            f"{where}: model config names objects outside Keras ({', '.join(foreign[:3])}); "
            "refused: Keras objects never come from these modules"
        )
    if code and not trust:
        raise UnsafeInputError(
            f"{where}: model config holds code ({', '.join(code[:3])}); refused. Its code is "
            "never run here: pass --trust to read the weights anyway"
        )
    return code


# ---- variable order per layer class -------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where a layer keeps variables: its own `vars` (child None) or a tracked child layer.

    For a child, attrs are the candidate attribute paths of its group (they differ between
    Keras 3 and tf-keras; empty for a nested model's layers, which live under `layers/`).
    """

    variables: tuple[str, ...] = ()
    non_trainable: tuple[str, ...] = ()
    attrs: tuple[str, ...] = ()
    child: LayerNode | None = None


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
    forward = _wrapped(cfg, "layer")
    backward = (
        _wrapped(cfg, "backward_layer") if cfg.get("backward_layer") else _wrapped(cfg, "layer")
    )
    forward.name = f"forward_{forward.name}"
    if not cfg.get("backward_layer"):
        backward.name = f"backward_{backward.name}"
    return [
        Slot(attrs=("forward_layer",), child=forward),
        Slot(attrs=("backward_layer",), child=backward),
    ]


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


def layer_slots(node: LayerNode, legacy: bool) -> list[Slot] | None:
    """The variable slots of a layer in `layer.weights` order, or None for an unknown class."""
    if node.is_model:
        return [Slot()] + [
            Slot(attrs=(group,), child=child) for group, child in model_child_groups(node)
        ]
    spec = LAYER_SLOTS.get(node.class_name)
    if spec is None:
        return None
    return spec(node.config, legacy)


def model_child_groups(node: LayerNode) -> Iterator[tuple[str, LayerNode]]:
    """(group path, child) of a model's layers: `layers/<snake_case class>[_k]` per class."""
    used: dict[str, int] = {}
    for child in node.children:
        base = to_snake_case(child.class_name)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        yield (f"layers/{base}" if count is None else f"layers/{base}_{count + 1}"), child
