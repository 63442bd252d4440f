"""Canonical names and order of the variables in a `.weights.h5` tree (FORMATS.md layouts D
and E: `layers/.../vars/<i>`), named from the model config.

This walker and the legacy .h5 one (legacy.py) return `Found` records (canonical name, dataset
path, trainable) in Keras 3's `model.weights` order; keras/files.py turns them into lazy Tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.core.errors import InputError
from exporter.core.weightset import Note
from exporter.models.keras.config import LayerNode
from exporter.models.keras.hdf5 import attr_text
from exporter.models.keras.slots import Slot, layer_slots, layer_table

SKIPPED_GROUPS = ("seed_generator",)  # random-state variables are not in model.weights
# Top-level groups of a .weights.h5 that are not the model's weights (Keras 3, tf-keras).
NOT_MODEL = frozenset({"optimizer", "metrics", "compile_metrics", "_compile_metrics",
                       "_loss_tracker", "loss_tracker", "compiled_metrics", "compiled_loss"})  # fmt: skip


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
        self.warnings: list[Note] = []
        self.mismatched: list[str] = []  # config layer names the file names otherwise

    @property
    def uncertain(self) -> bool:
        """True when some name (or the order of some variables) could not be known for
        certain: the warnings say which; the manifest's naming must then not be canonical."""
        return bool(self.warnings)

    def walk_model(self, model: LayerNode) -> list[Found]:
        """Found records of the whole file, in model.weights order where it can be known."""
        slots = layer_slots(model, self.legacy)
        if slots is None:  # a subclassed model: its structure is only in the file
            self._unknown(self.root, model, "")
        for slot in slots or []:
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
        if any(slot.entries for slot in slots) and not self._entries(group, node, full, slots):
            return
        for slot in slots:
            if slot.entries:
                continue
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
                    Note(
                        "keras-variable-count",
                        f"layer {full or '(model)'}: file has {len(keys)} variables, the config "
                        f"implies {len(names)}; named var0..var{len(keys) - 1}",
                    )
                )
            names = [f"var{i}" for i in range(len(keys))]
            slot = None
        for key, short in zip(keys, names, strict=True):
            frozen = slot is not None and short in slot.non_trainable
            self._add(join(full, short), f"{vars_group.name}/{key}", trainable and not frozen)

    def _entries(self, group: Any, node: LayerNode, full: str, slots: list[Slot]) -> bool:
        """Name a table class's datasets; False (nothing added) when the file holds others."""
        rows = [row for slot in slots for row in slot.entries]
        stored = {p[len(group.name) + 1 :] for p in _datasets(group)}
        if stored != {path for path, _, _ in rows if path is not None}:
            self._unknown(group, node, full)
            return True
        unnamed = [i for i, (path, name, _) in enumerate(rows) if path and name is None]
        if unnamed:
            self.warnings.append(
                Note(
                    "keras-auto-numbered",
                    f"layer {full} ({node.class_name}): Keras numbers {len(unnamed)} of its variable "
                    "names automatically (variable_<n>); named var<i> by position",
                )
            )
        for index, (path, name, trainable) in enumerate(rows):
            if path is not None:
                short = name if name is not None else f"var{index}"
                self._add(join(full, short), f"{group.name}/{path}", node.trainable and trainable)
        return True

    def _unknown(self, group: Any, node: LayerNode, full: str) -> None:
        """A class exporter does not know: names and order from the file's own structure."""
        paths = structural_order(group)
        if group.name == "/":
            paths = [p for p in paths if _model_part(p)]
        if not paths:
            return
        self.warnings.append(
            Note(
                "keras-unknown-class",
                f"layer {full or '(model)'} has class {node.class_name}, which exporter does not "
                "know: its variables are named <attribute path>/var<i> and ordered as Keras saves "
                "them (own variables, then attributes by name), which can differ from model.weights",
            )
        )
        for path in paths:
            rel = path[len(group.name) + 1 :] if group.name != "/" else path.lstrip("/")
            where, _, key = rel.rpartition("/")
            where = where.removesuffix("vars").rstrip("/")
            self._add(join(full, where, f"var{key}"), path, None)

    def _leftovers(self) -> None:
        left = [p for p in _datasets(self.root) if p not in self.seen and _model_part(p)]
        if left:
            self.warnings.append(
                Note(
                    "keras-not-in-config",
                    f"{len(left)} variables in the file are not in the model config; "
                    "they are named by their position in the file",
                )
            )
        for path in left:
            self._add(path.lstrip("/"), path, None)

    def _add(self, name: str, path: str, trainable: bool | None) -> None:
        self.seen.add(path)
        self.found.append(Found(name, path, trainable))


def _model_part(path: str) -> bool:
    """False for the optimizer's and metrics' groups (not model weights)."""
    head = path.lstrip("/").split("/", 1)[0]
    return head not in NOT_MODEL


def structural_order(group: Any) -> list[str]:
    """Dataset paths under a group of unknown class, in model.weights order as far as the file
    tells it: own `vars` first, then each attribute in Keras's saving order; an attribute whose
    datasets match exactly one built-in layout of the class table (a MultiHeadAttention's
    query, key, value, output) takes that order."""
    order = known_order(group)
    if order is not None:
        return order
    paths: list[str] = []
    for key in sorted(group, key=lambda k: (k != "vars", k.startswith("_"), _sort_name(k))):
        item = group[key]
        if not hasattr(item, "keys"):
            paths.append(item.name)
        elif key == "vars":
            paths.extend(item[k].name for k in int_keys(item))
        elif not key.startswith(SKIPPED_GROUPS):
            paths.extend(structural_order(item))
    return paths


def known_order(group: Any) -> list[str] | None:
    """The dataset order of the only built-in layout (of any class in the table) whose paths
    are exactly the group's, or None (no match, or matches that disagree)."""
    stored = {p[len(group.name) + 1 :] for p in _datasets(group)}
    if not stored or all(p.startswith("vars/") for p in stored):
        return None  # own variables only: their order is the file's already
    orders = {
        tuple(p for p, _, _ in rows if p)
        for entry in layer_table().values()
        for rows in entry.get("variants", {}).values()
        if {p for p, _, _ in rows if p} == stored
    }
    if len(orders) != 1:
        return None
    return [f"{group.name}/{p}" for p in orders.pop()]


def _sort_name(key: str) -> tuple[str, int]:
    """`dense` < `dense_1` < `dense_2` < `dense_10` (a container's counter, numerically)."""
    base, _, number = key.rpartition("_")
    if base and ascii_number(number):
        return (base, int(number))
    return (key, -1)


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
