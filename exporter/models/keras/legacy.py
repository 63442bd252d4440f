"""Canonical names and order of the variables in a legacy Keras .h5 (FORMATS.md layouts A, B, C).

A full-model `.h5` (`model_weights`) or a tf-keras `save_weights` `.h5` lists each top-level
layer's `weight_names`; the names are made relative to the layer, intermediate model names that
tf-keras drops are put back from the config, and a nested model's weights are re-sorted from the
file's trainable-first order into `model.weights` order.
"""

from __future__ import annotations

from typing import Any

from exporter.core.weightset import Note
from exporter.models.keras.config import LayerNode
from exporter.models.keras.hdf5 import attr_list
from exporter.models.keras.layout import Found, join
from exporter.models.keras.slots import variable_trainable


def strip_suffix(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


def relative_segments(weight_name: str, layer: str, model: str | None = None) -> list[str]:
    """A weight name relative to its top-level layer: drop `:0` and any prefix up to the layer.

    Keras 3 stores variable paths (`inner_seq/inner_bn/gamma`, or `seed/dense/kernel` under a
    Sequential model named seed); tf-keras stores names without the outer layer
    (`inner_bn/gamma:0` under group inner_seq). The model's own name is dropped first, so a
    layer named like its model (`dense/dense/kernel`) is not mistaken for a nested one.
    """
    parts = strip_suffix(weight_name).split("/")
    if model and len(parts) > 2 and parts[0] == model and parts[1] == layer:
        parts = parts[1:]
    if layer in parts[:-1]:
        return parts[parts.index(layer) + 1 :]
    return parts


def _descendants(node: LayerNode) -> dict[str, list[str]]:
    """name -> path of child names, for every layer nested (at any depth) in a model node."""
    paths: dict[str, list[str]] = {}
    queue = [(child, [child.name]) for child in node.children]
    while queue:
        current, path = queue.pop(0)
        paths.setdefault(current.name, path)
        queue.extend((child, [*path, child.name]) for child in current.children)
    return paths


def expand(rel: list[str], node: LayerNode | None) -> list[str]:
    """tf-keras drops intermediate model names (`bn/gamma` for block/sub/bn): put them back."""
    if node is None or not node.is_model or len(rel) < 2:
        return rel
    if any(child.name == rel[0] for child in node.children):
        return rel
    path = _descendants(node).get(rel[0])
    return [*path[:-1], *rel] if path else rel


def legacy_layer(
    layer: str,
    weight_names: list[str],
    node: LayerNode | None,
    legacy: bool,
    model: str | None = None,
) -> list[tuple[str, str, bool | None]]:
    """(canonical name, raw weight name, trainable) of one layer group, in model.weights order.

    The file lists a nested model's weights trainable-first across sublayers; model.weights
    lists them per sublayer in the model's layer order. Re-sort by owning sublayer: ranks come
    from the config where the owner is a nested model's layer, else from first appearance.
    """
    rels = [expand(relative_segments(raw, layer, model), node) for raw in weight_names]
    first_seen: dict[tuple[str, ...], dict[str, int]] = {}
    keyed = []
    for index, (raw, rel) in enumerate(zip(weight_names, rels, strict=True)):
        key: list[int] = []
        owner = node
        for depth, segment in enumerate(rel[:-1]):
            children = owner.children if owner is not None and owner.is_model else []
            ranks = [c.name for c in children]
            if segment in ranks:
                key.append(ranks.index(segment))
                owner = children[ranks.index(segment)]
            else:
                seen = first_seen.setdefault(tuple(rel[:depth]), {})
                key.append(len(ranks) + seen.setdefault(segment, len(seen)))
                owner = None
        keyed.append(((*key, -1), index, raw, rel, _trainable(node, rel, legacy)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [(join(layer, *rel), raw, trainable) for _, _, raw, rel, trainable in keyed]


def _trainable(node: LayerNode | None, rel: list[str], legacy: bool) -> bool | None:
    """Trainable flag from the config: False under a frozen layer; else the flag the class
    table gives the variable; None (unknown) for a class exporter does not know."""
    if node is None:
        return None
    trainable = node.trainable
    owner: LayerNode = node
    rest = rel
    while len(rest) > 1 and owner.is_model:
        child = next((c for c in owner.children if c.name == rest[0]), None)
        if child is None:
            break
        owner, rest = child, rest[1:]
        trainable = trainable and owner.trainable
    if not trainable:
        return False
    return variable_trainable(owner, rest, legacy)


def legacy_found(root: Any, tree: LayerNode | None, legacy: bool) -> tuple[list[Found], list[Note]]:
    """Found records of a legacy .h5 weights root (`model_weights`, or the file for layout C)."""
    warnings: list[Note] = []
    found: list[Found] = []
    children = {c.name: c for c in tree.children} if tree is not None else {}
    top = root.get("top_level_model_weights")
    if top is not None:
        for raw in attr_list(top, "weight_names"):
            found.append(Found(strip_suffix(raw).rsplit("/", 1)[-1], f"{top.name}/{raw}"))
    for layer in attr_list(root, "layer_names"):
        group = root[layer]
        names = attr_list(group, "weight_names")
        node = children.get(layer)
        if tree is None and _interleaved([relative_segments(n, layer)[:-1] for n in names]):
            warnings.append(
                Note(
                    "keras-file-order",
                    f"layer {layer}: nested layers' weights are in file order (trainable first); "
                    "give the model config to restore Keras's order",
                )
            )
        model = tree.name if tree is not None else None
        for name, raw, trainable in legacy_layer(layer, names, node, legacy, model):
            found.append(Found(name, f"{group.name}/{raw}", trainable))
    return found, warnings


def _interleaved(owners: list[list[str]]) -> bool:
    """True when an owner's weights are split by another's (the trainable-first reordering)."""
    runs = [o for i, o in enumerate(owners) if i == 0 or o != owners[i - 1]]
    return len(runs) != len({tuple(o) for o in runs})


def legacy_optimizer(h5file: Any) -> list[Found]:
    group = h5file.get("optimizer_weights")
    if group is None:
        return []
    return [
        Found(f"optimizer/{strip_suffix(raw)}", f"{group.name}/{raw}", False)
        for raw in attr_list(group, "weight_names")
    ]
