"""A memo bounded in bytes, not entries: what a cache keyed by a sender's strings must be.

An entry count is no bound on memory when keys are label sets or names an attacker chooses: a
100,000-entry cache of 5 KB keys holds 500 MB. `BoundedCache(max_bytes, size_of)` charges each
entry `size_of(key, value)` bytes (an estimate: `approx_size` below, or the caller's own cheaper
one) and never holds more than `max_bytes` of them; an entry bigger than `max_entry_bytes` is not
kept at all, so one huge key can't push out the working set.

Eviction is a two-generation LRU approximation (as in segmented LRU / 2Q): new entries go to the
young generation; when it is full (half the budget) it becomes the old one and the old one is
dropped; an old entry that is hit moves back to the young one. A hit on a young entry costs one
dict lookup, with no reordering — these caches sit on ingest's hot path (~10^6 lookups/s), where
`OrderedDict.move_to_end` per hit would cost a visible share of the throughput. Entries in use
survive a rotation; only those not hit for a whole generation are evicted.

Counters (`hits`, `misses`, `evictions`, `refused`) and `bytes`/`len()` are plain attributes so
the owning stage can export them (kernel holds no metrics).
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Missing(enum.Enum):
    """The "no entry" sentinel: an enum member, so `value is _MISSING` narrows `V | _Missing` to V."""

    MISSING = enum.auto()


_MISSING: Final = _Missing.MISSING
_getsizeof = sys.getsizeof


def approx_size(obj: object) -> int:
    """Bytes an object holds, followed into tuples, lists, sets and dicts (shared objects counted each time).

    Meant for a cache miss (where the value was just built at a far greater cost), not for a hot path.
    """
    size = _getsizeof(obj)
    if isinstance(obj, (str, bytes, int, float, bool)) or obj is None:
        return size
    if isinstance(obj, dict):
        return size + sum(approx_size(k) + approx_size(v) for k, v in obj.items())
    if isinstance(obj, (tuple, list, set, frozenset)):
        return size + sum(approx_size(item) for item in obj)
    return size


def key_value_size(key: object, value: object) -> int:
    """The default `size_of`: approx_size of the key plus that of the value."""
    return approx_size(key) + approx_size(value)


class BoundedCache(Generic[K, V]):
    """A memo of at most `max_bytes` (by `size_of(key, value)`), least recently used entries evicted first."""

    __slots__ = (
        "_old",
        "_old_bytes",
        "_size_of",
        "_young",
        "_young_bytes",
        "evictions",
        "hits",
        "max_bytes",
        "max_entry_bytes",
        "misses",
        "refused",
    )

    def __init__(self, max_bytes: int, size_of: Callable[[K, V], int] = key_value_size,
                 max_entry_bytes: int | None = None) -> None:
        if max_bytes < 2:
            raise ValueError(f"max_bytes must be >= 2, got {max_bytes}")
        self.max_bytes = max_bytes
        # An entry bigger than this is not kept: by default 1/64 of the budget, so that a generation
        # always holds at least 32 entries and one outsized key can't flush the working set.
        self.max_entry_bytes = max(1, max_bytes // 64) if max_entry_bytes is None else max_entry_bytes
        if self.max_entry_bytes > max_bytes // 2:
            raise ValueError(f"max_entry_bytes ({self.max_entry_bytes}) must be at most half of max_bytes "
                             f"({max_bytes}): an entry must fit in one generation")
        self._size_of = size_of
        self._young: dict[K, V] = {}
        self._old: dict[K, V] = {}
        self._young_bytes = 0
        self._old_bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0  # entries dropped to make room
        self.refused = 0  # entries not kept because they were bigger than max_entry_bytes

    def get(self, key: K, default=None):
        """The value cached for `key` (a hit makes it recently used), else `default`."""
        value = self._young.get(key, _MISSING)
        if value is not _MISSING:
            self.hits += 1
            return value
        value = self._old.pop(key, _MISSING)
        if value is _MISSING:
            self.misses += 1
            return default
        self.hits += 1
        size = self._size_of(key, value)
        self._old_bytes -= size
        self._keep(key, value, size)
        return value

    def put(self, key: K, value: V) -> V:
        """Cache `value` under `key` unless it is bigger than `max_entry_bytes`; returns `value`."""
        size = self._size_of(key, value)
        if size > self.max_entry_bytes:
            self.refused += 1
            return value
        if key in self._young:
            self._young_bytes -= self._size_of(key, self._young.pop(key))
        elif key in self._old:
            self._old_bytes -= self._size_of(key, self._old.pop(key))
        self._keep(key, value, size)
        return value

    def _keep(self, key: K, value: V, size: int) -> None:
        if self._young_bytes + size > self.max_bytes // 2:
            self.evictions += len(self._old)
            self._old, self._old_bytes = self._young, self._young_bytes
            self._young, self._young_bytes = {}, 0
        self._young[key] = value
        self._young_bytes += size

    def __contains__(self, key: object) -> bool:
        return key in self._young or key in self._old

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    @property
    def bytes(self) -> int:
        """Bytes held now, by `size_of` (at most `max_bytes`)."""
        return self._young_bytes + self._old_bytes

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._young, self._old = {}, {}
        self._young_bytes = self._old_bytes = 0
