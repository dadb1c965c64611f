"""Label sets seen before: their validation verdict and canonical key, computed once per set.

Agents send the same series every interval (Prometheus every scrape, an SDK every export), each
time as a fresh dict. Keyed by the dict's items, a set seen before costs one tuple and one
lookup instead of a validation pass and a sorted, length-prefixed encoding (~8 µs for 10 labels).
Bounded: past `max_sets` entries the memo starts afresh (one recomputation per live set).

A `SharedLabels` dict (what a parser hands out for a label set it caches by its wire bytes, so the
very same dict comes back every scrape) carries its verdict and key itself: no tuple, no lookup.
"""

from __future__ import annotations

from ingest.validate import Limits, check_labels
from schemas.series_id import labels_key


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


class LabelSets:
    """Memo of check_labels and labels_key by label items (insertion order included)."""

    def __init__(self, max_sets: int = 200_000) -> None:
        self._max = max_sets
        # One memo per Limits: protocols differ in them (remote write allows ±Inf), and requests of
        # several protocols interleave, so a single memo reset on a change would rarely hit.
        self._checked: dict[Limits, dict[tuple, str | None]] = {}
        self._keys: dict[tuple, bytes] = {}

    def check(self, labels: dict[str, str], limits: Limits) -> str | None:
        """check_labels(labels, limits), remembered per label set and limits."""
        if type(labels) is SharedLabels:
            checked = labels.checked
            if checked is None or checked[0] is not limits:
                checked = labels.checked = (limits, check_labels(labels, limits))
            return checked[1]
        checked = self._checked.get(limits)
        if checked is None:
            checked = self._checked[limits] = {}
        items = tuple(labels.items())
        try:
            return checked[items]
        except KeyError:
            pass
        if len(checked) >= self._max:
            checked.clear()
        reason = checked[items] = check_labels(labels, limits)
        return reason

    def key(self, labels: dict[str, str]) -> bytes:
        """labels_key(labels), remembered per label set."""
        if type(labels) is SharedLabels:
            key = labels.canonical
            if key is None:
                key = labels.canonical = labels_key(labels)
            return key
        items = tuple(labels.items())
        try:
            return self._keys[items]
        except KeyError:
            pass
        if len(self._keys) >= self._max:
            self._keys.clear()
        key = self._keys[items] = labels_key(labels)
        return key
