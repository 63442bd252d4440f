"""Small explicit registries: readers keyed by source kind, writers keyed by format name.

A registration with a name already taken is refused; a failed lookup names what is registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from exporter.core.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered name -> item table that refuses duplicates."""

    def __init__(self, what: str):
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._items) or "none"
            raise UsageError(f"unknown {self.what} {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items
