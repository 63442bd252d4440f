"""scikit-learn model files: skops (safe, the default) and pickle/joblib (only with trust).

skops files are audited before anything is built: types from scikit-learn, numpy and scipy are
trusted, anything else is refused and named (FORMATS.md, "Safety facts").
"""

from __future__ import annotations

import pickletools
from pathlib import Path

from ..errors import InputError, UnsafeInputError, require
from ..weightset import WeightSet
from . import READERS, Probe, Reader, ReadOptions, probe
from .keras_api import file_sha256

TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.")


def trusted_type(name: str) -> bool:
    """True for types from scikit-learn, numpy and scipy themselves."""
    return name.startswith(TRUSTED_PREFIXES)


def _is_skops(probe: Probe) -> bool:
    return "schema.json" in probe.members


def load_estimator(path: Path, trust: bool = False):
    """The estimator in a skops file (audited: only scikit-learn/numpy/scipy types) or, with
    trust, a pickle/joblib file. Refuses a pickle without trust, naming what it would import."""
    if _is_skops(probe(path)):
        return _load_skops(path)
    if not trust:
        imports = sorted(set(pickle_globals(path)))
        listed = f" (it imports {', '.join(imports[:5])}{' ...' if len(imports) > 5 else ''})"
        raise UnsafeInputError(
            f"{path}: a pickle/joblib file runs code when loaded{listed if imports else ''}; "
            "refused. Re-save the model with skops, or pass --trust if you trust its origin"
        )
    require("sklearn", "sklearn")
    joblib = require("joblib", "sklearn")
    try:
        return joblib.load(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot unpickle it ({type(exc).__name__}: {exc})") from None


def _load_skops(path: Path):
    require("sklearn", "sklearn")
    sio = require("skops.io", "sklearn")
    from ..archive import open_zip

    open_zip(path).close()  # size/ratio checks before skops inflates anything
    try:
        untrusted = sio.get_untrusted_types(file=str(path))
    except Exception as exc:  # skops raises many kinds on damaged files
        raise InputError(
            f"{path}: not a readable skops file ({type(exc).__name__}: {exc})"
        ) from None
    refused = sorted(t for t in untrusted if not trusted_type(t))
    if refused:
        raise UnsafeInputError(
            f"{path}: skops file holds types that are not from scikit-learn/numpy/scipy: "
            f"{', '.join(refused)}; refused (inspect it with skops.io.get_untrusted_types)"
        )
    try:
        return sio.load(str(path), trusted=untrusted)
    except Exception as exc:
        raise InputError(f"{path}: skops cannot load it ({type(exc).__name__}: {exc})") from None


def read_skops(path: Path, options: ReadOptions) -> WeightSet:
    from .sklearn_api import weightset_from_estimator

    est = _load_skops(path)
    return weightset_from_estimator(
        est, kind="sklearn-skops", file=path.name, sha256=file_sha256(path)
    )


def _is_pickle(probe: Probe) -> bool:
    head = probe.head
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return True
    return probe.suffix.endswith((".pkl", ".pickle", ".joblib")) and not probe.members


def read_pickle(path: Path, options: ReadOptions) -> WeightSet:
    from .sklearn_api import weightset_from_estimator

    est = load_estimator(path, options.trust)
    return weightset_from_estimator(
        est, kind="sklearn-pickle", file=path.name, sha256=file_sha256(path)
    )


def pickle_globals(path: Path) -> list[str]:
    """The module.name globals a pickle would import, found without running it."""
    found, strings = [], []
    with open(path, "rb") as handle:
        try:
            for opcode, arg, _pos in pickletools.genops(handle):
                if opcode.name in ("GLOBAL", "INST") and isinstance(arg, str):
                    found.append(arg.replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str) and "UNICODE" in opcode.name:
                    strings.append(arg)
        except Exception:  # a damaged pickle: list what was found before the damage
            pass
    return found


READERS.register("sklearn-skops", Reader("sklearn-skops", _is_skops, read_skops, "skops file"))
READERS.register(
    "sklearn-pickle",
    Reader("sklearn-pickle", _is_pickle, read_pickle, "pickle/joblib (needs --trust)"),
)
