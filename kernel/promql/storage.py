"""Where raw samples come from: the Storage protocol and an in-memory implementation.

Time bounds are inclusive on both ends, like Prometheus' storage.Querier hints (mint, maxt): the
engine asks for [start_ms, end_ms] and itself decides which samples fall in a lookback window or
range (in Prometheus 2.42 both ends of a range selector are inclusive).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Protocol

from .matchers import Matcher, matches_all
from .model import METRIC_NAME, Series, labels_key


class Storage(Protocol):
    """A source of raw series."""

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Return every series matching all `matchers`, with its samples start_ms <= t <= end_ms."""
        ...


class MemoryStorage:
    """Series kept in memory, indexed by metric name; used by tests and the rule unit-test runner."""

    def __init__(self) -> None:
        self._series: dict[tuple, Series] = {}
        self._by_name: dict[str, list[Series]] = {}
        self._unsorted: set[int] = set()

    def add(self, labels: dict[str, str], timestamp_ms: int, value: float) -> None:
        """Append one sample (a later sample at the same timestamp replaces the earlier one)."""
        key = labels_key(labels)
        series = self._series.get(key)
        if series is None:
            series = Series(dict(labels), [], [])
            self._series[key] = series
            self._by_name.setdefault(labels.get(METRIC_NAME, ""), []).append(series)
        ts = series.timestamps
        if ts and timestamp_ms <= ts[-1]:
            i = bisect_left(ts, timestamp_ms)
            if i < len(ts) and ts[i] == timestamp_ms:
                series.values[i] = value
                return
            ts.insert(i, timestamp_ms)
            series.values.insert(i, value)
            return
        ts.append(timestamp_ms)
        series.values.append(value)

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Return matching series with their samples in [start_ms, end_ms], leaving out empty ones.

        Series come in creation order, as from Prometheus' head block (which promtool uses): the
        order of summation, and so the last bits of sums and averages, follows it.
        """
        candidates = self._candidates(matchers)
        out = []
        for series in candidates:
            if not matches_all(matchers, series.labels):
                continue
            i = bisect_left(series.timestamps, start_ms)
            j = bisect_right(series.timestamps, end_ms)
            if i < j:
                out.append(Series(series.labels, series.timestamps[i:j], series.values[i:j]))
        return out

    def _candidates(self, matchers: list[Matcher]) -> list[Series]:
        # An equality matcher on the name narrows the scan to one metric, the common case.
        for m in matchers:
            if m.name == METRIC_NAME and m.op == "=":
                return self._by_name.get(m.value, [])
        return list(self._series.values())
