"""The one in-memory form: an ordered mapping canonical name -> Tensor, plus ModelInfo.

Readers produce a WeightSet, writers consume one. Tensor data may be lazy (a loader called
when the values are needed) so a big model is never held in memory twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import numpy as np

from exporter.core.dtypes import as_little_endian, dtype_name
from exporter.core.errors import InputError, UsageError

HASH_CHUNK = 1 << 24


def check_name(name: str) -> str:
    """Return name if it is safe as a tensor name, else raise InputError.

    Names are data, but writers derive member and file names from them, so a name must not
    be empty, absolute, contain NUL or a '..'/'.' segment, or be absurdly long.
    """
    if not isinstance(name, str) or not name:
        raise InputError("empty tensor name")
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise InputError(f"tensor name {name!r} contains control characters")
    if len(name.encode()) > 1024:
        raise InputError(f"tensor name {name[:40]!r}... is longer than 1024 bytes")
    if name.startswith("/") or "\\" in name:
        raise InputError(f"tensor name {name!r} is absolute or has a backslash")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise InputError(f"tensor name {name!r} has an empty, '.' or '..' segment")
    return name


def sha256_of(array: np.ndarray) -> str:
    """sha256 of the C-order little-endian bytes of array."""
    data = as_little_endian(np.asarray(array))
    digest = hashlib.sha256()
    flat = data.reshape(-1).view(np.uint8) if data.size else np.empty(0, np.uint8)
    for start in range(0, flat.size, HASH_CHUNK):
        digest.update(flat[start : start + HASH_CHUNK])
    return digest.hexdigest()


@dataclass
class Tensor:
    """One parameter: name, dtype, shape and its values (an array or a loader for them)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    source: np.ndarray | Callable[[], np.ndarray]
    trainable: bool | None = None
    origin: str | None = None
    sha256: str | None = None  # filled from a manifest when the reader knows the expected hash

    @classmethod
    def from_array(cls, name: str, array: Any, **kw: Any) -> Tensor:
        """A tensor holding array (converted with numpy.asarray)."""
        array = np.asarray(array)
        return cls(name, array.dtype, tuple(array.shape), array, **kw)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def dtype_name(self) -> str:
        return dtype_name(self.dtype)

    def read(self) -> np.ndarray:
        """The values as a numpy array of self.dtype and self.shape."""
        array = self.source() if callable(self.source) else self.source
        array = np.asarray(array)
        if tuple(array.shape) != tuple(self.shape) or array.dtype != self.dtype:
            raise InputError(
                f"tensor {self.name!r}: data is {array.dtype}{list(array.shape)}, "
                f"expected {self.dtype}{list(self.shape)}"
            )
        return array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """np.asarray(tensor) reads the values (numpy's array protocol)."""
        array = self.read()
        if dtype is not None and np.dtype(dtype) != array.dtype:
            return array.astype(dtype)
        return array.copy() if copy else array


@dataclass(frozen=True)
class Note:
    """A warning about how a source was read. `code` says which warning it is, for code that
    acts on warnings (never on their wording); `text` is what is printed and what a manifest
    stores, word for word."""

    code: str
    text: str

    def __str__(self) -> str:
        return self.text


Digest = Callable[[], str]  # a sha256 still being computed (hashing.FileDigest): call to wait


@dataclass
class ModelInfo:
    """Where the weights came from: source kind, framework, model name/class, file and hash.

    The source file's sha256 is often still being computed in the background while the weights
    are read (InputFile.digest): `digest` holds it, as a str once known or a Digest to wait for;
    `sha256` is that digest's value, waiting for it the first time it is asked for.
    """

    kind: str
    framework: str | None = None
    framework_version: str | None = None
    model_name: str | None = None
    model_class: str | None = None
    file: str | None = None
    digest: str | Digest | None = None
    naming: str = "canonical"  # or "positional" when the source does not store names
    extra: dict[str, Any] = field(default_factory=dict)
    # The warnings' texts, as printed and stored (plain strings: a manifest read back gives
    # these only), and the code of each one a reader added as a Note.
    warnings: list[str] = field(default_factory=list)
    warning_codes: dict[str, str] = field(default_factory=dict)  # text -> Note.code

    @property
    def sha256(self) -> str | None:
        """The source file's sha256 (waits for a pending digest once, then keeps the str)."""
        if callable(self.digest):
            self.digest = self.digest()
        return self.digest

    @sha256.setter
    def sha256(self, value: str | Digest | None) -> None:
        self.digest = value

    def warn(self, *notes: Note) -> None:
        """Add warnings: each Note's text to `warnings`, its code to `warning_codes`."""
        for note in notes:
            self.warnings.append(note.text)
            self.warning_codes[note.text] = note.code

    def notes(self) -> list[Note]:
        """Every warning as a Note; code "" for one added as a plain string (or read back)."""
        return [Note(self.warning_codes.get(text, ""), text) for text in self.warnings]


class WeightSet:
    """Ordered mapping canonical name -> Tensor, with ModelInfo."""

    def __init__(self, tensors: list[Tensor] | None = None, info: ModelInfo | None = None):
        self.info = info or ModelInfo(kind="unknown")
        self._tensors: dict[str, Tensor] = {}
        for tensor in tensors or []:
            self.add(tensor)

    def add(self, tensor: Tensor) -> None:
        """Append a tensor; a duplicate name is an error, never a silent overwrite."""
        check_name(tensor.name)
        if tensor.name in self._tensors:
            raise InputError(f"duplicate tensor name {tensor.name!r}")
        dtype_name(tensor.dtype)  # refuse unsupported dtypes early
        self._tensors[tensor.name] = tensor

    def __getitem__(self, name: str) -> Tensor:
        return self._tensors[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tensors

    def __iter__(self) -> Iterator[Tensor]:
        return iter(self._tensors.values())

    def __len__(self) -> int:
        return len(self._tensors)

    def names(self) -> list[str]:
        return list(self._tensors)

    keys = names  # with __getitem__, dict(ws) is {name: Tensor}

    def items(self) -> list[tuple[str, Tensor]]:
        return list(self._tensors.items())

    def get(self, name: str, default: Tensor | None = None) -> Tensor | None:
        return self._tensors.get(name, default)

    def select(self, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> WeightSet:
        """The tensors whose names match any `only` glob (all when none is given) and no
        `exclude` glob (fnmatch patterns: `dense*/kernel`, `*/bias`), same info and order."""
        unmatched = [p for p in only if not any(fnmatchcase(n, p) for n in self._tensors)]
        if unmatched:
            raise UsageError(
                f"--only {unmatched[0]!r} matches no tensor (names are case-sensitive; "
                "see inspect for them)"
            )
        kept = [
            t
            for t in self
            if (not only or any(fnmatchcase(t.name, p) for p in only))
            and not any(fnmatchcase(t.name, p) for p in exclude)
        ]
        return WeightSet(kept, self.info)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every tensor read into memory, in order (small models, tests)."""
        return {t.name: t.read() for t in self}

    @property
    def parameter_count(self) -> int:
        return sum(t.size for t in self)

    def __repr__(self) -> str:
        return (
            f"WeightSet({self.info.kind}, {len(self)} tensors, {self.parameter_count} parameters)"
        )
