"""scikit-learn model files: skops (safe, the default) and pickle/joblib (only with trust).

skops files are audited before anything is built: types from scikit-learn, numpy and scipy are
trusted, anything else is refused and named (FORMATS.md, "Safety facts").
"""

from __future__ import annotations

import pickletools
from pathlib import Path

from ..errors import InputError, UnsafeInputError, require
from ..hashing import FileDigest
from ..weightset import WeightSet
from . import READERS, Probe, Reader, ReadOptions, probe

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
        raise UnsafeInputError(
            f"{path}: a pickle/joblib file runs code when loaded{describe_imports(path)}; "
            "refused. Re-save the model with skops, or pass --trust if you trust its origin"
        )
    require("sklearn", "sklearn")
    joblib = require("joblib", "sklearn")
    try:
        est = joblib.load(path)
    except Exception as exc:
        raise InputError(f"{path}: cannot unpickle it ({type(exc).__name__}: {exc})") from None
    if not (hasattr(est, "get_params") and hasattr(est, "fit")):
        raise InputError(f"{path}: holds a {type(est).__name__}, not a scikit-learn estimator")
    return est


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
        est, kind="sklearn-skops", file=path.name, sha256=FileDigest(path)
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
        est, kind="sklearn-pickle", file=path.name, sha256=FileDigest(path)
    )


_STRING_PUSHES = ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "STRING",
                  "BINSTRING", "SHORT_BINSTRING")  # fmt: skip
_NO_PUSH = ("FRAME", "PROTO", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP")


def pickle_globals(path: Path) -> tuple[list[str], bool]:
    """(the module.name globals a pickle would import, whether the list is complete), found by
    reading its opcodes without running anything. Strings reached through the memo (BINGET)
    are followed; a pickle that cannot be read to its end (joblib stores arrays raw after the
    pickle) gives the globals before that point and complete=False."""
    found: list[str] = []
    pushed: list[str | None] = []  # what each push put on the stack, strings only
    memo: dict[int, str | None] = {}
    complete = True
    with open(path, "rb") as handle:
        try:
            for opcode, arg, _pos in pickletools.genops(handle):
                name = opcode.name
                if name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                    pushed.append(None)
                elif name == "STACK_GLOBAL":
                    module, attr = pushed[-2:] if len(pushed) >= 2 else (None, None)
                    if isinstance(module, str) and isinstance(attr, str):
                        found.append(f"{module}.{attr}")
                    else:
                        complete = False
                    pushed[-2:] = [None]
                elif name == "MEMOIZE":
                    memo[len(memo)] = pushed[-1] if pushed else None
                elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[int(arg)] = pushed[-1] if pushed else None
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    pushed.append(memo.get(int(arg)))
                elif name in _STRING_PUSHES:
                    pushed.append(arg if isinstance(arg, str) else None)
                elif name not in _NO_PUSH:
                    pushed.append(None)
        except Exception:  # damaged, or joblib's raw array bytes: what came before is listed
            complete = False
    return found, complete


def describe_imports(path: Path) -> str:
    """' (it imports a.b, c.d)' for the refusal message, saying when the list is partial."""
    found, complete = pickle_globals(path)
    names = sorted(set(found))
    shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
    if not names:
        return "" if complete else " (what it imports could not be listed)"
    return f" (it imports {shown})" if complete else f" (it imports at least {shown})"


READERS.register("sklearn-skops", Reader("sklearn-skops", _is_skops, read_skops, "skops file"))
READERS.register(
    "sklearn-pickle",
    Reader("sklearn-pickle", _is_pickle, read_pickle, "pickle/joblib (needs --trust)"),
)
