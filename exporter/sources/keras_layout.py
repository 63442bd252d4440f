"""Canonical names and order of the variables in Keras HDF5 trees (FORMATS.md layouts A-D).

Both walkers return `Found` records (canonical name, dataset path, trainable) in Keras 3's
`model.weights` order; keras_files turns them into lazy Tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .keras_config import LayerNode, Slot, layer_slots
from .keras_h5 import attr_list, attr_text

SKIPPED_GROUPS = ("seed_generator",)  # random-state variables are not in model.weights


@dataclass
class Found:
    name: str
    path: str
    trainable: bool | None = None


def join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def ascii_number(key: str) -> bool:
    """True for keys of ASCII digits only (str.isdigit also takes '²' and '١', which int() then
    refuses or reads as another key's number)."""
    return key.isascii() and key.isdigit()


def int_keys(group: Any) -> list[str]:
    """Dataset keys of a `vars` group sorted as integers (h5py lists 0,1,10,11,2)."""
    keys = [k for k in group if ascii_number(k)]
    return sorted(keys, key=int)


# ---- layout D: .weights.h5 and the member of a .keras --------------------------------------


class WeightsTree:
    """Names `layers/.../vars/<i>` datasets from a model config (see keras_config)."""

    def __init__(self, root: Any, legacy: bool):
        self.root = root
        self.legacy = legacy
        self.found: list[Found] = []
        self.seen: set[str] = set()
        self.warnings: list[str] = []
        self.mismatched: list[str] = []  # config layer names the file names otherwise

    def walk_model(self, model: LayerNode) -> list[Found]:
        for slot in layer_slots(model, self.legacy) or []:
            if slot.child is None:
                self._own(self.root.get("vars"), "", None, model.trainable)
            else:
                self._child(self.root, slot, "")
        if self.mismatched:
            shown = ", ".join(self.mismatched[:3]) + (" ..." if len(self.mismatched) > 3 else "")
            raise InputError(
                f"the model config describes another model: its layers are not the file's "
                f"({shown}); give the config this file was saved with"
            )
        self._leftovers()
        return self.found

    def _child(self, parent: Any, slot: Slot, prefix: str) -> None:
        group = next((parent[a] for a in slot.attrs if a in parent), None)
        if group is None:
            return
        node = slot.child
        name = node.name
        if "vars" in group and "name" in group["vars"].attrs:
            stored = attr_text(group["vars"].attrs["name"])  # Keras >= 3.15 stores the layer name
            if stored != name:
                self.mismatched.append(f"config {name!r}, file {stored!r}")
        self._layer(group, node, join(prefix, name))

    def _layer(self, group: Any, node: LayerNode, full: str) -> None:
        slots = layer_slots(node, self.legacy)
        if slots is None:
            self._unknown(group, node, full)
            return
        for slot in slots:
            if slot.child is None:
                self._own(group.get("vars"), full, slot, node.trainable)
            else:
                slot.child.trainable = slot.child.trainable and node.trainable
                self._child(group, slot, full)

    def _own(self, vars_group: Any, full: str, slot: Slot | None, trainable: bool) -> None:
        if vars_group is None:
            return
        keys = int_keys(vars_group)
        names = list(slot.variables) if slot is not None else []
        if keys and len(names) != len(keys):
            if slot is not None:
                self.warnings.append(
                    f"layer {full or '(model)'}: file has {len(keys)} variables, the config "
                    f"implies {len(names)}; named var0..var{len(keys) - 1}"
                )
            names = [f"var{i}" for i in range(len(keys))]
            slot = None
        for key, short in zip(keys, names, strict=True):
            frozen = slot is not None and short in slot.non_trainable
            self._add(join(full, short), f"{vars_group.name}/{key}", trainable and not frozen)

    def _unknown(self, group: Any, node: LayerNode, full: str) -> None:
        paths = list(_datasets(group))
        if not paths:
            return
        self.warnings.append(
            f"layer {full} has class {node.class_name}, whose variable names exporter does not "
            "know; its variables are named var<i>"
        )
        for path in paths:
            rel = path[len(group.name) + 1 :]
            where, _, key = rel.rpartition("/")
            where = where.removesuffix("vars").rstrip("/")
            self._add(join(full, where, f"var{key}"), path, None)

    def _leftovers(self) -> None:
        left = [p for p in _datasets(self.root) if p not in self.seen and _model_part(p)]
        if left:
            self.warnings.append(
                f"{len(left)} variables in the file are not in the model config; "
                "they are named by their position in the file"
            )
        for path in left:
            self._add(path.lstrip("/"), path, None)

    def _add(self, name: str, path: str, trainable: bool | None) -> None:
        self.seen.add(path)
        self.found.append(Found(name, path, trainable))


def _model_part(path: str) -> bool:
    head = path.lstrip("/").split("/", 1)[0]
    return head in ("layers", "vars")


def _datasets(group: Any):
    """Dataset paths under group in file order, vars sorted as integers, seed state skipped."""
    for key in sorted(
        group, key=lambda k: (not ascii_number(k), int(k) if ascii_number(k) else 0, k)
    ):
        item = group[key]
        if hasattr(item, "keys"):
            if not key.startswith(SKIPPED_GROUPS):
                yield from _datasets(item)
        else:
            yield item.name


def positional(root: Any) -> list[Found]:
    """Every model dataset named by its path in the file (no config to name them)."""
    return [Found(p.lstrip("/"), p) for p in _datasets(root) if _model_part(p)]


def optimizer_found(root: Any) -> list[Found]:
    group = root.get("optimizer")
    if group is None:
        return []
    return [Found(p.lstrip("/"), p, False) for p in _datasets(group)]


# ---- layouts A, B, C: legacy .h5 ------------------------------------------------------------


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
        keyed.append(((*key, -1), index, raw, rel, _trainable(node, rel)))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [(join(layer, *rel), raw, trainable) for _, _, raw, rel, trainable in keyed]


def _trainable(node: LayerNode | None, rel: list[str]) -> bool | None:
    """Trainable flag from the config: frozen layers on the path, non-trainable variables."""
    if node is None:
        return None
    trainable = node.trainable
    owner: LayerNode | None = node
    for segment in rel[:-1]:
        children = owner.children if owner is not None else []
        owner = next((c for c in children if c.name == segment), None)
        if owner is None:
            break
        trainable = trainable and owner.trainable
    if owner is not None:
        for slot in layer_slots(owner, False) or []:
            if slot.child is None and rel[-1] in slot.non_trainable:
                return False
    return trainable


def legacy_found(root: Any, tree: LayerNode | None, legacy: bool) -> tuple[list[Found], list[str]]:
    """Found records of a legacy .h5 weights root (`model_weights`, or the file for layout C)."""
    warnings: list[str] = []
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
                f"layer {layer}: nested layers' weights are in file order (trainable first); "
                "give the model config to restore Keras's order"
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
