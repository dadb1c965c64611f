"""Label sets seen before: their validation verdict and canonical key, computed once per set.

Agents send the same series every interval (Prometheus every scrape, an SDK every export), each
time as a fresh dict. Keyed by the dict's items, a set seen before costs one tuple and one
lookup instead of a validation pass and a sorted, length-prefixed encoding (~8 µs for 10 labels).
Bounded in bytes (kernel/bounded_cache.py), not in sets: a label set may hold 64 labels of 2 KB
values, so a count said nothing about memory. Refused label sets are not remembered at all: a
sender's refused input must cost it CPU, never this process memory.

A `SharedLabels` dict (what a parser hands out for a label set it caches by its wire bytes, so the
very same dict comes back every scrape) carries its verdict and key itself: no tuple, no lookup.
"""

from __future__ import annotations

from ingest import metrics
from ingest.validate import Limits, check_labels
from kernel.bounded_cache import BoundedCache
from schemas.series_id import labels_key

MAX_BYTES = 256 * 1024 * 1024  # per memo (the checks, the keys): ~100k label sets of 10 labels of 20 characters
_PAIR_BYTES = 170  # a (name, value) tuple and two str objects, beyond the characters themselves


class SharedLabels(dict):
    """A label set a parser hands out again for every request carrying it; it remembers its check and key.

    Like every labels dict in ingest it is never changed in place (stages build new dicts), so
    what it remembers stays true.
    """

    __slots__ = ("checked", "canonical")

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.checked: tuple[Limits, str | None] | None = None  # (limits, verdict) of the last check
        self.canonical: bytes | None = None  # labels_key


def _items_size(items: tuple, value: object) -> int:
    """Bytes a memo entry holds: its items tuple, their strings and a `bytes` value (a labels_key)."""
    size = 120 + 8 * len(items) + sum([len(k) + len(v) + _PAIR_BYTES for k, v in items])
    return size + len(value) + 33 if type(value) is bytes else size


class LabelSets:
    """Memo of check_labels and labels_key by label items (insertion order included)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        # One memo per Limits: protocols differ in them (remote write allows ±Inf), and requests of
        # several protocols interleave, so a single memo reset on a change would rarely hit.
        self._checked: dict[Limits, BoundedCache[tuple, bool]] = {}
        self._keys: BoundedCache[tuple, bytes] = metrics.watch_cache("label_keys", BoundedCache(max_bytes, _items_size))

    def check(self, labels: dict[str, str], limits: Limits) -> str | None:
        """check_labels(labels, limits), remembered per label set and limits while the set is accepted."""
        if type(labels) is SharedLabels:
            checked = labels.checked
            if checked is None or checked[0] is not limits:
                checked = labels.checked = (limits, check_labels(labels, limits))
            return checked[1]
        checked = self._checked.get(limits)
        if checked is None:
            checked = self._checked[limits] = metrics.watch_cache(
                f"label_checks_{len(self._checked)}", BoundedCache(self._max_bytes, _items_size))
        items = tuple(labels.items())
        if checked.get(items, False):
            return None
        reason = check_labels(labels, limits)
        if reason is None:  # only accepted sets: a refused one may be any size, and is refused again cheaply
            checked.put(items, True)
        return reason

    def key(self, labels: dict[str, str]) -> bytes:
        """labels_key(labels), remembered per label set."""
        if type(labels) is SharedLabels:
            key = labels.canonical
            if key is None:
                key = labels.canonical = labels_key(labels)
            return key
        items = tuple(labels.items())
        key = self._keys.get(items)
        if key is None:
            key = self._keys.put(items, labels_key(labels))
        return key
