"""A memo with bounded memory, for per-word results (vocabulary back-off, n-gram ids).

A long-running predictor may see an endless stream of new words, so remembering
every one would grow without end. ``BoundedCache`` is emptied whole when it holds
``maxsize`` entries: no bookkeeping per lookup (unlike an LRU), and frequent words
are back after one miss each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """``key -> compute(key)``, remembered for at most ``maxsize`` keys at a time."""

    def __init__(self, maxsize: int):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, received {maxsize}")
        self.maxsize = maxsize
        self._data: dict[K, V] = {}

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        """The remembered value for ``key``, else ``compute(key)`` (then remembered)."""
        try:
            return self._data[key]
        except KeyError:
            pass
        value = compute(key)
        if len(self._data) >= self.maxsize:
            self._data.clear()
        self._data[key] = value
        return value

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def clear(self) -> None:
        self._data.clear()
