"""Where each tensor goes in an export, planned from the names before anything is written.

Tensor names are data; a format turns them into keys (NPZ members, safetensors keys) or file
paths (CSV). Two different names can still meet there: as the same key for the format's own
library, as a key the format reserves, or as the same file on a case-insensitive or Windows file
system. Every writer plans all locations first (`Writer.plan`, called by `writers.write` before
the output is opened), so a clash is found before any byte of output exists. Two rules:

- flat keys that ARE the format's interface (NPZ, safetensors): a clash is refused with
  NameClash (exit 3) naming both tensors, because renaming a key would break every reader that
  looks tensors up by name;
- file paths inside a folder export (CSV wide): a clash is escaped deterministically (a `~N`
  suffix, see FolderPlan) and the path is recorded in the manifest's `location`, which is what
  the reader follows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from exporter.core.errors import UnsupportedError
from exporter.core.weightset import WeightSet


class NameClash(UnsupportedError):
    """Two tensor names (or a name and a key the format reserves) would be the same key."""


def flat_plan(
    ws: WeightSet,
    key_kind: str,
    location: Callable[[str], str],
    claims: Callable[[str], Iterable[str]],
    reserved: Mapping[str, str],
) -> dict[str, str]:
    """name -> location for a format whose keys are its interface, refusing any clash.

    claims(name) lists every key by which the format's own library finds that tensor; reserved
    maps the keys the format keeps for itself to what holds them; key_kind says what a key is
    ("numpy.load key"). A key claimed twice, by two tensors or by a tensor and the format,
    raises NameClash naming both.
    """
    owner: dict[str, str] = {}
    plan: dict[str, str] = {}
    for tensor in ws:
        name = tensor.name
        for key in claims(name):
            if key in reserved:
                raise NameClash(
                    f"tensor {name!r} would be {key_kind} {key!r}, which holds {reserved[key]}"
                )
            other = owner.setdefault(key, name)
            if other != name:
                raise NameClash(f"tensors {other!r} and {name!r} would both be {key_kind} {key!r}")
        plan[name] = location(name)
    return plan


def fold(part: str) -> str:
    """The form in which case-insensitive file systems compare a (percent-encoded, ASCII) name."""
    return part.lower()


class FolderPlan:
    """Relative file paths for a folder export that stay distinct on every file system.

    Paths are placed one at a time, in tensor order, so the result is deterministic. Inside
    each folder, names are compared case-insensitively and files and sub-folders share one
    namespace; a name already taken there gets the first free suffix `~2`, `~3`, ... (before
    the extension for files). `~` never occurs in an encoded tensor name, so a suffixed name
    cannot be taken by a later tensor. A folder keeps the name it was given for every later path
    spelled the same way.
    """

    def __init__(self, reserved_files: Iterable[str] = ()) -> None:
        self._taken: set[tuple[str, str]] = {("", fold(name)) for name in reserved_files}
        self._folders: dict[tuple[str, str], str] = {}

    def place(self, parts: list[str], suffix: str) -> str:
        """The path for a file whose folders are parts[:-1] and whose stem is parts[-1]."""
        parent = ""
        for part in parts[:-1]:
            parent = self._folder(parent, part)
        return _join(parent, self._free(parent, parts[-1], suffix))

    def _folder(self, parent: str, part: str) -> str:
        key = (parent, part)
        if key not in self._folders:
            self._folders[key] = self._free(parent, part, "")
        return _join(parent, self._folders[key])

    def _free(self, parent: str, stem: str, suffix: str) -> str:
        name, count = stem + suffix, 1
        while (parent, fold(name)) in self._taken:
            count += 1
            name = f"{stem}~{count}{suffix}"
        self._taken.add((parent, fold(name)))
        return name


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name
