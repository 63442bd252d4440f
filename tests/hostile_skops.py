"""Hostile skops files: schema.json edited to name a gadget that runs code, writes or reads files,
or opens a connection when skops builds it (issue #12, class 1).

Each file starts as a real skops dump of a LinearRegression (or a FunctionTransformer) and gets
one extra node: `payload_` in the estimator's state, built by the node kind named in the case
(ConstructorFromReduceNode and LossNode call `module.name(*args)`, ObjectNode calls
`__new__` and `__setstate__`, FunctionNode/OperatorFuncNode/MethodNode/PartialNode hand a
callable to the estimator). Every payload, had it run, writes `payload_ran` beside the file
(or reads `secret.txt`, or connects to the address it is given).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from hostile_corpus import Case, skops_file

MARKER = "payload_ran"


def json_node(value) -> dict:
    """A skops JsonNode: json.loads of its content."""
    return {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
            "content": json.dumps(value), "is_json": True}  # fmt: skip


def tuple_node(items: list[dict]) -> dict:
    return {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
            "content": items}  # fmt: skip


def dict_node(content: dict[str, dict]) -> dict:
    key_type = {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
            "content": content,
            "key_types": {"__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
                          "content": [key_type] * len(content)}}  # fmt: skip


def call_node(dotted: str, *args, loader: str = "ConstructorFromReduceNode") -> dict:
    """A node whose construction calls module.name(*args) (skops: `cls(*args)`)."""
    module, _, name = dotted.rpartition(".")
    arguments = tuple_node([json_node(a) for a in args])
    if loader == "LossNode":  # ReduceNode: constructor(*args), then attrs (empty: kept as is)
        return {"__class__": name, "__module__": module, "__loader__": "LossNode",
                "__reduce__": {"args": arguments}, "content": dict_node({})}  # fmt: skip
    return {"__class__": name, "__module__": module, "__loader__": loader, "content": arguments}


def function_node(dotted: str) -> dict:
    module, _, name = dotted.rpartition(".")
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode"}


def with_node(folder: Path, name: str, node: dict, base=None, attr: str = "payload_") -> Path:
    """A sound skops file (base: an estimator, default LinearRegression) with node added as
    attribute attr of the root estimator (or replacing it, when it exists)."""
    path = skops_file(folder / name, base)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    schema = json.loads(members["schema.json"])
    state = schema["content"]
    if attr not in state["content"]:
        state["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )
    state["content"][attr] = node
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def marker_code(folder: Path) -> str:
    return f"open({str(folder / MARKER)!r}, 'w').close()"


def gadget(name: str, make: Callable[[Path], dict], base=None, attr: str = "payload_"):
    """A Case builder: a sound skops file plus the node make(folder) returns."""

    def build(folder: Path) -> Path:
        return with_node(folder, f"{name}.skops", make(folder), base() if base else None, attr)

    return build


def _function_transformer():
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func=np.log1p).fit(np.ones((3, 2)))


def _callback(folder: Path) -> dict:
    """sklearn.callback ScoringMonitor: __setstate__ connects to the address in the file (here
    a closed local port) and, when that fails, opens a listening socket and a thread."""
    handle = {"__class__": "ListenerHandle", "__module__": "sklearn.callback._transport",
              "__loader__": "TupleNode",
              "content": [tuple_node([json_node("127.0.0.1"), json_node(9)]),
                          {"__class__": "bytes", "__module__": "builtins",
                           "__loader__": "JsonNode", "content": '"key"', "is_json": True}]}  # fmt: skip
    return {"__class__": "ScoringMonitor", "__module__": "sklearn.callback._scoring_monitor",
            "__loader__": "ObjectNode",
            "content": dict_node({"_listener_handle": handle, "_log": json_node([])})}  # fmt: skip


def _old_protocol_function(folder: Path) -> dict:
    """skops protocol 0 FunctionNode: the function is named in content, not in the node."""
    node = function_node("numpy.log1p")
    node["content"] = {"module_path": "builtins", "function": "exec"}
    return node


def _operator(kind: str, *args) -> Callable[[Path], dict]:
    def make(folder: Path) -> dict:
        return {"__class__": kind, "__module__": "operator", "__loader__": "OperatorFuncNode",
                "attrs": tuple_node([json_node(a) for a in args])}  # fmt: skip

    return make


def _method(folder: Path) -> dict:
    """A bound method: numpy.ndarray.tofile of an array from the file."""
    array = {"__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode",
             "type": "json", "content": [json_node(1)], "shape": tuple_node([json_node(1)])}  # fmt: skip
    return {"__class__": "ndarray", "__module__": "numpy", "__loader__": "MethodNode",
            "content": {"func": "tofile", "obj": array}}  # fmt: skip


def _partial(folder: Path) -> dict:
    """functools.partial(numpy.savetxt, marker): the estimator's func writes the marker."""
    return {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": function_node("numpy.savetxt"),
                        "args": tuple_node([json_node(str(folder / MARKER))]),
                        "kwds": dict_node({}), "namespace": json_node(None)}}  # fmt: skip


def _generator_name(folder: Path) -> dict:
    """A numpy Generator whose bit generator name (a string in its state) is not one."""
    state = dict_node({"bit_generator": json_node("seed"), "state": json_node({})})
    return {"__class__": "Generator", "__module__": "numpy.random._generator",
            "__loader__": "RandomGeneratorNode",
            "content": {"bit_generator": state, "seed_seq": dict_node({})}}  # fmt: skip


GADGETS: list[tuple[str, Callable[[Path], dict], str]] = [
    ("skops-builtins-exec", lambda f: call_node("builtins.exec", marker_code(f)), "builtins.exec"),
    ("skops-builtins-eval",
     lambda f: call_node("builtins.eval", marker_code(f), loader="LossNode"), "builtins.eval"),
    ("skops-builtins-open", lambda f: call_node("builtins.open", str(f / MARKER), "w"),
     "builtins.open"),
    ("skops-numpy-savetxt", lambda f: call_node("numpy.savetxt", str(f / MARKER), [1.0]),
     "numpy.savetxt"),
    ("skops-numpy-fromfile", lambda f: call_node("numpy.fromfile", str(f / "secret.txt"), "u1"),
     "numpy.fromfile"),
    ("skops-numpy-testing-measure",
     lambda f: call_node("numpy.testing._private.utils.measure", marker_code(f)),
     r"numpy\.testing\._private\.utils\.measure"),
    ("skops-sklearn-testing-script",
     lambda f: call_node("sklearn.utils._testing.assert_run_python_script_without_output",
                         marker_code(f)),
     "sklearn.utils._testing.assert_run_python_script_without_output"),
    ("skops-sklearn-data-home",
     lambda f: call_node("sklearn.datasets._base.get_data_home", str(f / MARKER)),
     "sklearn.datasets._base.get_data_home"),
    ("skops-sklearn-callback", _callback, "sklearn.callback._scoring_monitor.ScoringMonitor"),
    ("skops-os-system", lambda f: call_node("os.system", f"touch {f / MARKER}"), "os.system"),
    ("skops-posix-mkdir",
     lambda f: call_node("posix.mkdir", str(f / MARKER), loader="LossNode"), "posix.mkdir"),
    ("skops-posixpath-function", lambda f: function_node("posixpath.join"), "posixpath.join"),
    ("skops-function-builtins-eval", lambda f: function_node("builtins.eval"), "builtins.eval"),
    ("skops-function-old-protocol", _old_protocol_function, "builtins.exec"),
    ("skops-operator-methodcaller", _operator("methodcaller", "tofile", "x"),
     "operator.methodcaller"),
    ("skops-operator-attrgetter", _operator("attrgetter", "system"), "operator.attrgetter"),
    ("skops-method-node", _method, r"numpy\.ndarray\.tofile"),
    ("skops-partial-savetxt", _partial, "numpy.savetxt"),
    ("skops-generator-name", _generator_name, r"numpy\.random\.seed"),
    # a harmless function in a node that calls it
    ("skops-ufunc-called", lambda f: call_node("numpy.log1p", 1.0), "numpy.log1p"),
    # a trusted class reached through a function position is fine; a function as a class is not
    ("skops-function-as-object",
     lambda f: {**function_node("sklearn.feature_selection._univariate_selection.f_classif"),
                "__loader__": "ObjectNode"},
     "f_classif"),
]  # fmt: skip

FUNCTION_GADGETS = {"skops-posixpath-function", "skops-function-builtins-eval",
                    "skops-function-old-protocol", "skops-operator-methodcaller",
                    "skops-operator-attrgetter", "skops-method-node", "skops-partial-savetxt"}  # fmt: skip


def build_gadget(name: str) -> Callable[[Path], Path]:
    """The builder of the gadget file called name (FunctionTransformer.func for the gadgets
    that hand over a callable, LinearRegression.payload_ for the rest)."""
    for gadget_name, make, _ in GADGETS:
        if gadget_name == name:
            if name in FUNCTION_GADGETS:
                return gadget(name, make, _function_transformer, attr="func")
            return gadget(name, make)
    raise KeyError(name)


CASES: list[Case] = [
    Case(name, build_gadget(name), 3, rf"{pattern}.*refused") for name, _, pattern in GADGETS
]
