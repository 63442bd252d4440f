"""How many weight values a Keras config makes Keras allocate, checked against what is stored.

A 10 KB `.keras` whose config declares `Dense(32768)` on a 32768-wide input makes Keras allocate
4 GiB per variable while it builds the model, before any weight is read. Every Keras variable is
stored in the file (model.weights.h5 or model_weights), so the values a config implies can
never exceed the values the file holds. This module gives a lower bound of the implied values
from the config alone (known weight-bearing classes, shapes from `build_config`, `batch_shape`
or the previous layer of a Sequential); `check_sizes` compares it with the stored datasets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from exporter.core.errors import UnsafeInputError

MARGIN = 1 << 20  # values a config may imply beyond what is stored (never needed by a sound file)

Rule = Callable[[dict[str, Any], int], tuple[int, int | None]]  # (values, output width)


def _int(value: Any, default: int = 1) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def _prod(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return math.prod(_int(v) for v in value)
    return _int(value)


def _kernel_size(cfg: dict[str, Any], rank: int) -> int:
    size = cfg.get("kernel_size")
    return _prod(size) if isinstance(size, (list, tuple)) else _int(size) ** rank


def _bias(cfg: dict[str, Any], units: int) -> int:
    return units if cfg.get("use_bias", True) is not False else 0


def _dense(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
    units = _int(cfg.get("units"))
    return units * width + _bias(cfg, units), units


def _conv(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
        filters = _int(cfg.get("filters"))
        groups = _int(cfg.get("groups"))
        kernel = _kernel_size(cfg, rank) * max(width // groups, 1) * filters
        return kernel + _bias(cfg, filters), filters

    return rule


def _depthwise(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
        out = width * _int(cfg.get("depth_multiplier"))
        return _kernel_size(cfg, rank) * out + _bias(cfg, out), out

    return rule


def _separable(rank: int) -> Rule:
    def rule(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
        middle = width * _int(cfg.get("depth_multiplier"))
        filters = _int(cfg.get("filters"))
        values = _kernel_size(cfg, rank) * middle + middle * filters + _bias(cfg, filters)
        return values, filters

    return rule


def _rnn(gates: int) -> Rule:
    def rule(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
        units = _int(cfg.get("units"))
        return gates * units * (width + units) + _bias(cfg, gates * units), units

    return rule


def _embedding(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
    dim = _int(cfg.get("output_dim"))
    return _int(cfg.get("input_dim")) * dim, dim


def _norm(count: int) -> Rule:
    return lambda cfg, width: (count * width, width)


def _attention(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
    heads, key = _int(cfg.get("num_heads")), _int(cfg.get("key_dim"))
    value = _int(cfg.get("value_dim"), key)
    return heads * (2 * key + value) * width + heads * value * width, width


def _wrapper(cfg: dict[str, Any], width: int) -> tuple[int, int | None]:
    inner = cfg.get("layer")
    rule = RULES.get(inner.get("class_name")) if isinstance(inner, dict) else None
    inner_cfg = inner.get("config") if isinstance(inner, dict) else None
    if rule is None or not isinstance(inner_cfg, dict):
        return 0, None
    return rule(inner_cfg, width)


RULES: dict[str, Rule] = {
    "Dense": _dense,
    **{f"Conv{n}D": _conv(n) for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": _conv(n) for n in (1, 2, 3)},
    **{f"DepthwiseConv{n}D": _depthwise(n) for n in (1, 2)},
    **{f"SeparableConv{n}D": _separable(n) for n in (1, 2)},
    "LSTM": _rnn(4),
    "GRU": _rnn(3),
    "SimpleRNN": _rnn(1),
    "Embedding": _embedding,
    "BatchNormalization": _norm(4),
    "LayerNormalization": _norm(2),
    "MultiHeadAttention": _attention,
    "TimeDistributed": _wrapper,
    "Bidirectional": lambda cfg, width: (2 * _wrapper(cfg, width)[0], None),
}
KEEP_WIDTH = frozenset(
    {"Dropout", "Activation", "ReLU", "LeakyReLU", "Softmax", "GaussianNoise", "Rescaling",
     "BatchNormalization", "LayerNormalization", "ZeroPadding1D", "ZeroPadding2D",
     "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"}
)  # fmt: skip


def _declared_width(item: dict[str, Any]) -> int | None:
    """The last input dimension a layer config declares (build_config, batch_shape)."""
    cfg = item.get("config") if isinstance(item.get("config"), dict) else {}
    build = item.get("build_config") if isinstance(item.get("build_config"), dict) else {}
    for shape in (build.get("input_shape"), cfg.get("batch_shape"), cfg.get("batch_input_shape")):
        if isinstance(shape, (list, tuple)) and shape and not isinstance(shape[0], list):
            last = shape[-1]
            if isinstance(last, int) and not isinstance(last, bool) and last > 0:
                return last
    return None


def implied_values(config: Any) -> Iterator[tuple[str, int]]:
    """(layer label, lower bound of the weight values Keras allocates for it) for every layer
    of a known weight-bearing class anywhere in the config (nested models and wrappers too)."""
    stack: list[Any] = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            yield from _layer_list(item)
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(value for key, value in item.items() if key != "layers")
            layers = (item.get("config") or {}).get("layers") if _is_model(item) else None
            if isinstance(layers, list):
                stack.append(layers)


def _is_model(item: dict[str, Any]) -> bool:
    return isinstance(item.get("config"), dict) and "layers" in item["config"]


def _layer_list(layers: list[Any]) -> Iterator[tuple[str, int]]:
    """A list of layer configs, in order: the previous layer's width feeds the next one."""
    width: int | None = None
    for item in layers:
        if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
            width = None
            continue
        cls, cfg = item.get("class_name"), item["config"]
        width = _declared_width(item) or width
        rule = RULES.get(cls) if isinstance(cls, str) else None
        if rule is not None:
            values, out = rule(cfg, width or 1)
            yield f"layer {cfg.get('name')!r} ({cls})", values
            width = out
        elif cls not in KEEP_WIDTH and cls != "InputLayer":
            width = None


def check_sizes(config: Any, stored: list[tuple[int, ...]], where: str) -> None:
    """Refuse a config that implies more weight values than the file stores (plus MARGIN)."""
    stored_total = sum(math.prod(shape) for shape in stored)
    total, largest = 0, ("", 0)
    for label, values in implied_values(config):
        total += values
        largest = max(largest, (label, values), key=lambda pair: pair[1])
    if total <= stored_total + MARGIN:
        return
    raise UnsafeInputError(
        f"{where}: the model config declares at least {total:,} weight values "
        f"({largest[0]} alone {largest[1]:,}) but the file stores {stored_total:,}; refused "
        "before Keras allocates them. The config does not match its weights: re-save the model"
    )
