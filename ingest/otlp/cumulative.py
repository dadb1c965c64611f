"""Delta points → cumulative values, per series, for Prometheus-style storage and rules.

Prometheus has no delta temporality (compatibility spec: convert or drop). Each ingest process
keeps a running total per series of delta points it has seen; after a restart totals start again
at zero, which `rate()`/`increase()` read as a counter reset. Senders of delta metrics must
therefore reach one ingest process per series (load-balancer affinity by source) when ingest
is scaled out.
"""

from __future__ import annotations

from collections import OrderedDict

from schemas.records import Sample
from schemas.series_id import labels_key

MAX_BYTES = 32 * 1024 * 1024
_ENTRY_BYTES = 250  # an OrderedDict entry, its key tuple, the str and bytes headers and the float


def _entry_size(key: tuple[str, bytes]) -> int:
    return len(key[0]) + len(key[1]) + _ENTRY_BYTES


class DeltaToCumulative:
    """Running totals per (name, labels), least recently updated forgotten first past `max_series` or `max_bytes`.

    Both bounds: the series' names and labels are the sender's, so a count alone bounds no memory.
    """

    def __init__(self, max_series: int = 100_000, max_bytes: int = MAX_BYTES) -> None:
        self.max_series = max_series
        self.max_bytes = max_bytes
        self.bytes = 0  # held by the keys, estimated (_entry_size)
        self.evictions = 0
        self._totals: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def apply(self, samples: list[Sample]) -> list[tuple[tuple[str, bytes], float]]:
        """Replace each delta value by the series' running total, in place; returns what to revert."""
        totals = self._totals
        applied = []
        for sample in samples:
            key = (sample["name"], labels_key(sample["labels"]))
            delta = sample["value"]
            total = totals.pop(key, None)
            if total is None:
                total = 0.0
                self.bytes += _entry_size(key)
            total += delta
            totals[key] = total
            sample["value"] = total
            applied.append((key, delta))
        while totals and (len(totals) > self.max_series or self.bytes > self.max_bytes):
            self.bytes -= _entry_size(totals.popitem(last=False)[0])
            self.evictions += 1
        return applied

    def revert(self, applied: list[tuple[tuple[str, bytes], float]]) -> None:
        """Take back deltas whose request was not written (the sender will retry it)."""
        for key, delta in applied:
            if key in self._totals:
                self._totals[key] -= delta
