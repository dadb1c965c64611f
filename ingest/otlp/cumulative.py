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


class DeltaToCumulative:
    """Running totals per (name, labels), oldest forgotten first past `max_series`."""

    def __init__(self, max_series: int = 100_000) -> None:
        self.max_series = max_series
        self._totals: OrderedDict[tuple[str, bytes], float] = OrderedDict()

    def apply(self, samples: list[Sample]) -> list[tuple[tuple[str, bytes], float]]:
        """Replace each delta value by the series' running total, in place; returns what to revert."""
        totals = self._totals
        applied = []
        for sample in samples:
            key = (sample["name"], labels_key(sample["labels"]))
            delta = sample["value"]
            total = totals.pop(key, 0.0) + delta
            totals[key] = total
            sample["value"] = total
            applied.append((key, delta))
        while len(totals) > self.max_series:
            totals.popitem(last=False)
        return applied

    def revert(self, applied: list[tuple[tuple[str, bytes], float]]) -> None:
        """Take back deltas whose request was not written (the sender will retry it)."""
        for key, delta in applied:
            if key in self._totals:
                self._totals[key] -= delta
