"""scikit-learn model files: skops (safe, the default) and pickle/joblib (only with trust).

skops files are audited before anything is built: every name in schema.json must be on an exact
list of fully qualified scikit-learn/numpy/scipy names, for the way skops uses it (a class it
may call, or a function it only references); anything else is refused and named
(sklearn_trust.py; FORMATS.md, "Safety facts"). `--trust` does not change this.
"""

from __future__ import annotations

import json
import pickletools
import zipfile
from pathlib import Path

from exporter.core.errors import InputError, UnsafeInputError, require
from exporter.core.weightset import WeightSet
from exporter.files.inputs import InputFile, as_input
from exporter.readers import READERS, Probe, Reader, ReadOptions, probe


def _is_skops(probe: Probe) -> bool:
    return "schema.json" in probe.members


def load_estimator(source: InputFile | str | Path, trust: bool = False):
    """The estimator in a skops file (audited against exact scikit-learn/numpy/scipy names,
    whatever trust says) or, with trust, a pickle/joblib file. Refuses a pickle without trust,
    naming what it would import. Everything is read from one descriptor of the input."""
    path = as_input(source, folder=False)  # str(path) is the user's path, for messages
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
        with path.reader() as handle:
            est = joblib.load(handle)
    except Exception as exc:
        raise InputError(f"{path}: cannot unpickle it ({type(exc).__name__}: {exc})") from None
    if not (hasattr(est, "get_params") and hasattr(est, "fit")):
        raise InputError(f"{path}: holds a {type(est).__name__}, not a scikit-learn estimator")
    return est


def _load_skops(path: InputFile):
    """The object in a skops file, built only after its schema passed the exact audit. One
    descriptor (the opened input's) serves the audit and the load, so a file renamed over the
    path meanwhile is not read."""
    require("sklearn", "sklearn")
    sio = require("skops.io", "sklearn")
    try:
        with path.reader() as handle:
            accepted = _audit_skops(path, handle)
            handle.seek(0)
            return _skops_load(sio, path, handle, accepted)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc})") from None


def _skops_load(sio, path: Path, handle, accepted: set[str]):
    """skops' load with exactly the audited names trusted (skops audits them once more), then
    every index the estimator's compiled code follows checked against what it indexes."""
    from exporter.models.sklearn.checks import check_structures

    try:
        estimator = sio.load(handle, trusted=sorted(accepted))
    except sio.exceptions.UntrustedTypesFoundException as exc:
        raise _refusal(path, _skops_names(exc)) from None
    except Exception as exc:
        raise InputError(f"{path}: skops cannot load it ({type(exc).__name__}: {exc})") from None
    check_structures(estimator, str(path))
    return estimator


def _audit_skops(path: Path, handle) -> set[str]:
    """The names schema.json uses, all trusted for their use; refuses the file otherwise."""
    from exporter.files.archive import check_members, read_member
    from exporter.models.sklearn.trust import audit_schema

    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path}: damaged zip archive ({exc})") from None
    with archive:
        check_members(archive, Path(str(path)))  # size/ratio checks before anything inflates
        text = read_member(archive, "schema.json", str(path))
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a readable skops file (schema.json: {exc})") from None
    accepted, refused = audit_schema(schema)
    if refused:
        raise _refusal(path, refused)
    return accepted


def _skops_names(exc: Exception) -> set[str]:
    """The names in skops' UntrustedTypesFoundException ("... in the file: ['a', 'b']."),
    which keeps them only in its message."""
    import ast

    line = str(exc).splitlines()[0] if str(exc) else ""
    try:
        names = ast.literal_eval(line[line.index("[") : line.rindex("]") + 1])
    except (ValueError, SyntaxError):
        return {line or type(exc).__name__}
    return {str(name) for name in names}


def _refusal(path: Path, names: set[str]) -> UnsafeInputError:
    shown = sorted(names)
    listed = ", ".join(shown[:20]) + (f" and {len(shown) - 20} more" if len(shown) > 20 else "")
    return UnsafeInputError(
        f"{path}: skops file names types or functions that are not on exporter's exact list "
        f"of trusted scikit-learn/numpy/scipy: {listed}; refused, loading would build or call "
        "them (--trust does not change this; re-save the model from plain scikit-learn objects)"
    )


def read_skops(source: InputFile, options: ReadOptions) -> WeightSet:
    from exporter.models.sklearn.api import weightset_from_estimator

    est = _load_skops(source)
    return weightset_from_estimator(
        est, kind="sklearn-skops", file=source.name, sha256=source.digest()
    )


def _is_pickle(probe: Probe) -> bool:
    head = probe.head
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return True
    return probe.suffix.endswith((".pkl", ".pickle", ".joblib")) and not probe.members


def read_pickle(source: InputFile, options: ReadOptions) -> WeightSet:
    from exporter.models.sklearn.api import weightset_from_estimator

    est = load_estimator(source, options.trust)
    return weightset_from_estimator(
        est, kind="sklearn-pickle", file=source.name, sha256=source.digest()
    )


_STRING_PUSHES = ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "STRING",
                  "BINSTRING", "SHORT_BINSTRING")  # fmt: skip
_NO_PUSH = ("FRAME", "PROTO", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP")


def pickle_globals(path: InputFile | str | Path) -> tuple[list[str], bool]:
    """(the module.name globals a pickle would import, whether the list is complete), found by
    reading its opcodes without running anything. Strings reached through the memo (BINGET)
    are followed; a pickle that cannot be read to its end (joblib stores arrays raw after the
    pickle) gives the globals before that point and complete=False."""
    found: list[str] = []
    pushed: list[str | None] = []  # what each push put on the stack, strings only
    memo: dict[int, str | None] = {}
    complete = True
    with as_input(path, folder=False).reader() as handle:
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


def describe_imports(path: InputFile | str | Path) -> str:
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
