"""The storage one group evaluation reads: the store, fetched once per selector, plus what rules just wrote.

Prometheus evaluates a group's rules in order at one timestamp, and a rule reads the series earlier
rules of the group wrote at that very timestamp (a recording rule feeding an alert). Here recorded
series reach the store only after a trip through the metrics topic and the sink, so the samples this
worker's rules wrote in the last lookback window are kept in memory (`RecentSamples`) and merged into
what the store returns. A selector asked again in the same evaluation (several rules, `$value`
templates running `query`) is answered from the cache; a wider window fetches once more.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from kernel.promql import Matcher, Series, Storage
from kernel.promql.matchers import matches_all
from kernel.promql.model import METRIC_NAME

from .victoria import StoreUnavailable

LabelsKey = tuple[tuple[str, str], ...]


class RecentSamples:
    """Samples this worker's rules wrote lately (recorded series, ALERTS), kept for one lookback window."""

    def __init__(self, keep_ms: int) -> None:
        self.keep_ms = keep_ms
        self._series: dict[LabelsKey, Series] = {}
        # By metric name: a selector naming its metric (nearly all) skips the ALERTS and ALERTS_FOR_STATE
        # series every firing alert keeps here, instead of testing each one against its matchers.
        self._by_name: dict[str, dict[LabelsKey, Series]] = {}

    def append(self, labels: LabelsKey, timestamp_ms: int, value: float) -> None:
        """Add one sample (kernel.prom_rules' SampleAppender); a sample at or before the newest one replaces nothing."""
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = Series(dict(labels), [], [])
            self._by_name.setdefault(series.labels.get(METRIC_NAME, ""), {})[labels] = series
        if series.timestamps and timestamp_ms <= series.timestamps[-1]:
            return
        series.timestamps.append(timestamp_ms)
        series.values.append(value)

    def trim(self, now_ms: int) -> None:
        """Forget samples older than the window before `now_ms`."""
        cutoff = now_ms - self.keep_ms
        for key in list(self._series):
            series = self._series[key]
            i = bisect_left(series.timestamps, cutoff)
            if i == len(series.timestamps):
                del self._series[key]
                name = series.labels.get(METRIC_NAME, "")
                named = self._by_name[name]
                del named[key]
                if not named:
                    del self._by_name[name]
            elif i:
                del series.timestamps[:i], series.values[:i]

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> dict[LabelsKey, Series]:
        """Matching series with their samples in [start_ms, end_ms], by label set."""
        out = {}
        candidates = self._series
        for m in matchers:
            if m.name == METRIC_NAME and m.op == "=":
                candidates = self._by_name.get(m.value, {})
                break
        for key, series in candidates.items():
            if matches_all(matchers, series.labels):
                part = _slice(series, start_ms, end_ms)
                if part.timestamps:
                    out[key] = part
        return out

    def __len__(self) -> int:
        return len(self._series)


@dataclass
class _Fetched:
    start_ms: int
    end_ms: int
    series: list[Series]


class EvaluationStorage:
    """A Storage for one evaluation at a time: `begin()` empties the cache; a store outage fails fast after the first."""

    def __init__(self, store: Storage, recent: RecentSamples | None = None) -> None:
        self.store = store
        self.recent = recent
        self.failure: StoreUnavailable | None = None
        self.fetches = 0  # store requests in this evaluation
        self._cache: dict[frozenset, _Fetched] = {}

    def begin(self) -> None:
        """Start a new evaluation: nothing cached, no failure yet."""
        self._cache.clear()
        self.failure = None
        self.fetches = 0

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Series matching `matchers` in [start_ms, end_ms]: from the cache when an earlier fetch covers it."""
        if self.failure is not None:
            raise self.failure  # one timeout per evaluation, not one per selector
        key = frozenset((m.name, m.op, m.value) for m in matchers)
        hit = self._cache.get(key)
        if hit is None or start_ms < hit.start_ms or end_ms > hit.end_ms:
            lo = start_ms if hit is None else min(start_ms, hit.start_ms)
            hi = end_ms if hit is None else max(end_ms, hit.end_ms)
            try:
                series = self.store.select(matchers, lo, hi)
            except StoreUnavailable as exc:
                self.failure = exc
                raise
            self.fetches += 1
            hit = self._cache[key] = _Fetched(lo, hi, self._merge(series, matchers, lo, hi))
        out = []
        for series in hit.series:
            part = _slice(series, start_ms, end_ms)
            if part.timestamps:
                out.append(part)
        return out

    def _merge(self, series: list[Series], matchers: list[Matcher], lo: int, hi: int) -> list[Series]:
        if self.recent is None or not len(self.recent):
            return series
        mine = self.recent.select(matchers, lo, hi)
        if not mine:
            return series
        out = []
        for s in series:
            own = mine.pop(tuple(sorted(s.labels.items())), None)
            out.append(s if own is None else _union(s, own))
        out.extend(mine.values())  # written here, not in the store yet
        return out


def _slice(series: Series, start_ms: int, end_ms: int) -> Series:
    i = bisect_left(series.timestamps, start_ms)
    j = bisect_right(series.timestamps, end_ms)
    if i == 0 and j == len(series.timestamps):
        return series
    return Series(series.labels, series.timestamps[i:j], series.values[i:j])


def _union(stored: Series, own: Series) -> Series:
    """Both series' samples by timestamp; our own sample wins a tie (it may be a staleness marker the store lacks)."""
    points = dict(zip(stored.timestamps, stored.values))
    points.update(zip(own.timestamps, own.values))
    timestamps = sorted(points)
    return Series(stored.labels, timestamps, [points[t] for t in timestamps])
