"""The one walk over every place an ONNX model stores parameters (graph.py's docstring lists
them and how each is named). The reader (graph.weightset_from_onnx) and the conversion report
(convert/weights.py) both use it, so `inspect` and the report name a parameter alike."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from exporter.files.inputs import Folder
from exporter.models.onnx.values import Values, first_value

ML_DOMAIN = "ai.onnx.ml"


def walk(model, folder: Folder | Path | None, where: str) -> Walker:
    """Every parameter of a ModelProto: graph, model-local functions, training info."""
    walker = Walker(folder, where)
    walker.graph(model.graph, "", "")
    walker.functions(model)
    walker.training_info(model)
    return walker


def _node_labels(nodes) -> dict[int, str]:
    """Labels of the nodes that hold parameters: name or op_type, made unique by index."""
    wanted = {i: (n.name or n.op_type) for i, n in enumerate(nodes) if _holds_parameters(n)}
    counts = Counter(wanted.values())
    return {i: label if counts[label] == 1 else f"{label}_{i}" for i, label in wanted.items()}


def _holds_parameters(node) -> bool:
    return node.domain == ML_DOMAIN or any(a.type in (5, 10) for a in node.attribute)


class Walker(Values):
    """Walks graphs, their nodes and subgraphs, gathering the values they hold."""

    def graph(self, graph, prefix: str, scope: str) -> None:
        for tensor in graph.initializer:
            self.tensor(prefix + tensor.name, tensor, f"{scope}initializer {tensor.name!r}")
        for sparse in graph.sparse_initializer:
            raw = sparse.values.name
            self.sparse_tensor(prefix + raw, sparse, f"{scope}sparse_initializer {raw!r}")
        self.nodes(graph.node, prefix, scope)

    def nodes(self, nodes, prefix: str, scope: str) -> None:
        labels = _node_labels(nodes)
        for index, node in enumerate(nodes):
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.constant(node, prefix, scope)
            elif node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx"):
                self.constant_of_shape(node, prefix)
            if index not in labels:
                continue
            label = labels[index]
            node_scope = f"{scope}{node.op_type} {label!r} "
            for attr in node.attribute:
                if attr.ref_attr_name:  # set by a function's caller: nothing stored here
                    continue
                if attr.type in (5, 10):  # GRAPH, GRAPHS
                    self.subgraphs(attr, f"{prefix}{label}/{attr.name}/", node_scope)
                elif node.domain == ML_DOMAIN:
                    self.attribute(f"{prefix}{label}/{attr.name}", attr, node_scope)

    def subgraphs(self, attr, prefix: str, scope: str) -> None:
        if attr.type == 5:
            self.graph(attr.g, prefix, f"{scope}{attr.name}: ")
        for i, graph in enumerate(attr.graphs):
            self.graph(graph, f"{prefix}{i}/", f"{scope}{attr.name}[{i}]: ")

    def constant(self, node, prefix: str, scope: str) -> None:
        if not node.output or not node.attribute:
            return
        raw = node.output[0]
        for attr in node.attribute:
            if attr.ref_attr_name:  # a function's attribute, set by the caller: nothing stored
                continue
            self.attribute(prefix + raw, attr, f"{scope}Constant {raw!r} ")

    def constant_of_shape(self, node, prefix: str) -> None:
        value: Any = 0.0  # the ONNX default fill value
        for attr in node.attribute:
            if attr.name == "value" and attr.type == 4 and not attr.ref_attr_name:
                value = first_value(self.decode(attr.t, "ConstantOfShape value"))
        self.computed.append(
            {
                "output": prefix + (node.output[0] if node.output else ""),
                "op": "ConstantOfShape",
                "shape_from": node.input[0] if node.input else None,
                "value": value,
            }
        )

    def functions(self, model) -> None:
        for function in model.functions:
            ident = f"{function.domain}.{function.name}" if function.domain else function.name
            if function.overload:
                ident += f":{function.overload}"
            self.nodes(function.node, f"functions/{ident}/", f"function {ident!r}: ")

    def training_info(self, model) -> None:
        for i, info in enumerate(model.training_info):
            for part in ("initialization", "algorithm"):
                if info.HasField(part):
                    prefix = f"training_info/{i}/{part}/"
                    self.graph(getattr(info, part), prefix, f"training_info[{i}].{part}: ")
