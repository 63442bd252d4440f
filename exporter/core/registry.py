"""Small explicit registries: readers keyed by source kind, writers keyed by format name.

A registration with a name already taken is refused; a failed lookup names what is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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

    def order_by_module(self, modules: Sequence[str], module_of: Callable[[T], str]) -> None:
        """Put the items in the order of the modules that define them (stable within a module),
        whatever order those modules happened to be imported in: detection order is the
        declared one, not an accident of which test or command imported a module first."""
        rank = {name: i for i, name in enumerate(modules)}
        items = sorted(self._items.items(), key=lambda kv: rank.get(module_of(kv[1]), len(rank)))
        self._items = dict(items)

    def names(self) -> list[str]:
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items
