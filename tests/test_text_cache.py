"""BoundedCache: computes each key once while it is remembered, empties when full."""

import pytest

from rnnkit.text.cache import BoundedCache


def test_computes_once_per_key_and_empties_when_full():
    calls = []

    def compute(key):
        calls.append(key)
        return key.upper()

    cache = BoundedCache(2)
    assert [cache.get(k, compute) for k in "aab"] == ["A", "A", "B"]
    assert calls == ["a", "b"] and len(cache) == 2
    assert cache.get("c", compute) == "C"  # full: emptied, then "c" remembered
    assert len(cache) == 1 and "c" in cache and "a" not in cache
    assert cache.get("a", compute) == "A" and calls == ["a", "b", "c", "a"]


def test_rejects_a_size_below_one():
    with pytest.raises(ValueError, match="maxsize must be >= 1, received 0"):
        BoundedCache(0)
