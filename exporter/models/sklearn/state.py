"""How scikit-learn state that is not a plain numeric array becomes tensors, and what is left out.

Canonical names (README, "Canonical names"):

- private attributes that prediction reads (`_fit_X`, `_dual_coef_`, `_gamma`, `_x_mean`, ...) are
  exported as `<owner>/private/<name without the leading underscore>`: `private/fit_X`;
- text (arrays or lists of strings: `classes_`, `categories_/0`, `feature_names_in_`) as two
  tensors: `<name>/utf8` (uint8, the UTF-8 bytes of every string one after the other) and
  `<name>/offsets` (int64, n+1 entries; string i is utf8[offsets[i]:offsets[i+1]]), plus
  `<name>/shape` (int64) when the array is not 1-D;
- dicts of numbers (a vectorizer's `vocabulary_`) as `<name>/keys/...` (text as above, or int64)
  and `<name>/values`, key i belonging to value i, in the dict's order;
- scipy sparse matrices as CSR: `<name>/data`, `<name>/indices`, `<name>/indptr`, `<name>/shape`;
- kernels (`kernel_` of Gaussian processes) as `<name>/theta`, `<name>/bounds` and each numeric
  hyper-parameter `<name>/<parameter>`; the kernel's formula goes to the manifest info.

Objects that are not parameters of the fitted model (random generators, losses and optimizers
fixed by the hyper-parameters, scorers and CV splitters, search indexes rebuilt from exported
arrays) are listed in NOT_EXPORTED and named in the manifest info under "not_exported".
Anything else the reader cannot place makes the export fail: an export is never silently partial.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import types
from typing import Any

import numpy as np

# (module, class name, why it is not exported). A missing class (older scikit-learn) is ignored.
NOT_EXPORTED = (
    ("numpy.random", "RandomState", "random number generator, used while fitting"),
    ("numpy.random", "Generator", "random number generator, used while fitting"),
    ("sklearn.neighbors._kd_tree", "BinaryTree64", "search index, rebuilt from private/fit_X"),
    ("sklearn.neighbors._kd_tree", "BinaryTree32", "search index, rebuilt from private/fit_X"),
    ("sklearn.neighbors._ball_tree", "BinaryTree64", "search index, rebuilt from private/fit_X"),
    ("sklearn.neighbors._ball_tree", "BinaryTree32", "search index, rebuilt from private/fit_X"),
    ("scipy.interpolate", "interp1d", "interpolator, rebuilt from X_thresholds_/y_thresholds_"),
    ("sklearn.cluster._birch", "_CFNode", "CF-tree, kept to continue fitting (partial_fit)"),
    ("sklearn.cluster._birch", "_CFSubcluster", "CF-tree, kept to continue fitting (partial_fit)"),
    ("sklearn._loss.loss", "BaseLoss", "loss function, fixed by the hyper-parameters"),
    ("sklearn._loss._loss", "CyLossFunction", "loss function, fixed by the hyper-parameters"),
    ("sklearn.neural_network._stochastic_optimizers", "BaseOptimizer", "optimizer, fitting only"),
    ("sklearn.model_selection._split", "BaseCrossValidator", "CV splitter, used while fitting"),
    ("sklearn.model_selection._split", "BaseShuffleSplit", "CV splitter, used while fitting"),
    ("sklearn.model_selection._split", "_RepeatedSplits", "CV splitter, used while fitting"),
)


@functools.cache
def _not_exported_classes() -> tuple[tuple[type, str], ...]:
    found = []
    for module, name, reason in NOT_EXPORTED:
        try:
            found.append((getattr(importlib.import_module(module), name), reason))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def not_exported_reason(value: Any) -> str | None:
    """Why value is not exported (a known non-parameter object), or None."""
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)):
        return f"function {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    for cls, reason in _not_exported_classes():
        if isinstance(value, cls):
            return f"{type(value).__name__}: {reason}"
    return None


# Objects of other libraries that scikit-learn models hold: (module, class, attributes to export).
FOREIGN_FIELDS = (("scipy.interpolate", "BSpline", ("t", "c", "k", "extrapolate", "axis")),)


def foreign_fields(value: Any) -> tuple[str, ...] | None:
    """The attributes that hold the state of a known non-scikit-learn object, or None."""
    for module, name, fields in FOREIGN_FIELDS:
        cls = getattr(importlib.import_module(module), name, None)
        if cls is not None and isinstance(value, cls):
            return fields
    return None


def is_kernel(value: Any) -> bool:
    """True for a scikit-learn Gaussian-process kernel."""
    from sklearn.gaussian_process.kernels import Kernel

    return isinstance(value, Kernel)


def kernel_arrays(kernel: Any) -> list[tuple[str, np.ndarray]]:
    """(suffix, array) for theta, bounds and each numeric hyper-parameter of a kernel."""
    arrays = [("theta", kernel.theta), ("bounds", kernel.bounds)]
    for key, value in kernel.get_params(deep=True).items():
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays.append((key, value))
        elif isinstance(value, (float, np.floating)):
            arrays.append((key, np.asarray(value)))
    return arrays


def is_text(items: Any) -> bool:
    """True for a non-empty sequence or array whose items are all str."""
    if isinstance(items, np.ndarray):
        if items.dtype.kind == "U":
            return True
        if items.dtype != object or not items.size:
            return False
        items = items.reshape(-1)
    return len(items) > 0 and all(isinstance(v, str) for v in items)


def encode_text(items: Any) -> list[tuple[str, np.ndarray]]:
    """(suffix, array) pairs holding strings exactly: utf8 bytes, offsets, shape when not 1-D."""
    array = np.asarray(items, dtype=object)
    encoded = [str(s).encode("utf-8", "surrogatepass") for s in array.reshape(-1)]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    parts = [("utf8", np.frombuffer(b"".join(encoded), dtype=np.uint8)), ("offsets", offsets)]
    if array.ndim != 1:
        parts.append(("shape", np.asarray(array.shape, dtype=np.int64)))
    return parts


def decode_text(utf8: np.ndarray, offsets: np.ndarray, shape: Any = None) -> np.ndarray:
    """The strings encode_text wrote (`<name>/utf8`, `<name>/offsets`, `<name>/shape`), as an
    object array."""
    data = np.asarray(utf8, dtype=np.uint8).tobytes()
    bounds = np.asarray(offsets, dtype=np.int64).tolist()
    strings = [data[a:b].decode("utf-8", "surrogatepass") for a, b in itertools.pairwise(bounds)]
    array = np.empty(len(strings), dtype=object)
    array[:] = strings
    return array.reshape(tuple(shape)) if shape is not None else array


def is_number_mapping(mapping: dict) -> bool:
    """True for a non-empty dict of str (or int) keys to numbers: it becomes keys/values tensors."""
    keys_ok = all(isinstance(k, str) for k in mapping) or all(
        isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in mapping
    )
    values_ok = all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in mapping.values()
    )
    return bool(mapping) and keys_ok and values_ok


def encode_mapping(mapping: dict) -> list[tuple[str, np.ndarray]]:
    """(suffix, array) pairs for a dict of numbers: keys (text or int64) and values, in order."""
    keys = list(mapping)
    if isinstance(keys[0], str):
        parts = [(f"keys/{suffix}", array) for suffix, array in encode_text(keys)]
    else:
        parts = [("keys", np.asarray(keys, dtype=np.int64))]
    return [*parts, ("values", np.asarray(list(mapping.values())))]


def sparse_arrays(matrix: Any) -> list[tuple[str, np.ndarray]]:
    """(suffix, array) pairs of a scipy sparse matrix in CSR form: data, indices, indptr, shape."""
    csr = matrix.tocsr()
    return [
        ("data", csr.data),
        ("indices", csr.indices),
        ("indptr", csr.indptr),
        ("shape", np.asarray(csr.shape, dtype=np.int64)),
    ]
