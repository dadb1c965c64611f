"""StatsD metrics → Vigil samples, one flush interval at a time, with statsd's own semantics.

Spec: https://github.com/statsd/statsd/blob/master/docs/metric_types.md
Every flush emits, for each series that has something to say (timestamp = the flush time):

  counter  c        `<name>`        Σ value / sample_rate over the interval: a delta count, like the
                                    graphite backend's `stats_counts.<name>` (so `x:1|c|@0.1` counts 10)
                    `<name>_rate`   that count per second of the interval (statsd's `stats.<name>`),
                                    divided by the seconds actually elapsed since the previous flush
                                    (construction time for the first), so a late flush doesn't overstate
                                    the rate; flush_interval_s only if the clock didn't advance
  gauge    g        `<name>`        the last value; '+N'/'-N' deltas add to the current value (0 when the
                                    gauge is new or was dropped). Re-sent on every flush, like statsd's
                                    deleteGauges=false default, but dropped after
                                    `delete_idle_after_flushes` flushes in a row without an update, so
                                    gauges of dead hosts don't live forever (0 = statsd's deleteGauges=true)
  timer ms, histogram h, distribution d (all aggregated alike)
                    `<name>_count`  Σ 1 / sample_rate (statsd's sample-rate-corrected count)
                    `<name>_sum`, `<name>_min`, `<name>_max`, `<name>_mean`   over the values received;
                                    a sum past the float range is ±Inf (its mean too), as statsd,
                                    statsd_exporter and Telegraf give it, whose plain float sums overflow
                    `<name>{quantile="0.9"}`  one per configured percentile, Prometheus summary style;
                                    nearest-rank: the ⌈p/100 · n⌉-th smallest value received (exact,
                                    always a value that was sent — no interpolation), so 1..100 → p90 = 90
  set      s        `<name>`        the number of distinct values received in the interval

Counters, timers and sets are reset by every flush, so an interval with nothing received emits nothing
for them (statsd's deleteCounters/deleteTimers/deleteSets=true; no zero-filling).

Names: every character outside [a-zA-Z0-9_:] becomes '_' and a leading digit gets a '_' prefix
(`api.requests` → `api_requests`); tag keys likewise, without ':' ([a-zA-Z_][a-zA-Z0-9_]*). A tag key
starting with '__' (reserved by Prometheus: `__name__` would rename the series) gets a `tag` prefix,
and a `quantile` tag on a timer is overwritten by the quantile label.
Series are keyed by (sanitized name, kind, sorted sanitized labels), so `a.b` and `a-b`, or the same
tags in another order, are one series. If a tag key repeats (DogStatsD allows `#env:a,env:b`) the
greatest value wins, so the result doesn't depend on the order the client sent them in.
The same name sent with two kinds gives two series with colliding Prometheus names: don't do that.

Memory: at most `max_series` distinct series are held between two flushes (gauges count until they
are dropped); a metric that would create one more is dropped and counted in `Aggregator.dropped`.
Timers keep every value of the interval (percentiles need them), like statsd itself.

A flush takes the interval's counters, timers and sets before it reads them, so nothing it meets can
leave state that makes the next flush fail too; a series that cannot be summarised (a bug of ours,
never the sender's) is left out and counted in `Aggregator.failed`, and the others are emitted.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from ingest import metrics as self_metrics
from ingest.statsd.config import StatsdConfig
from ingest.statsd.parse import Metric
from kernel.bounded_cache import BoundedCache
from kernel.names import NOT_LABEL_NAME_CHAR, NOT_METRIC_NAME_CHAR, is_reserved_label_name

_TIMER_KINDS = frozenset(("ms", "h", "d"))
# math.fsum raises OverflowError when a partial sum leaves the float range, even if the total does not
# (1e308 + 1e308 - 1e308). Then the values are summed exactly as integers in units of 2**-1074 (the
# smallest subnormal: every finite float is a whole number of them), which int / int rounds correctly.
_UNITS_PER_ONE = 1 << 1074

log = logging.getLogger(__name__)

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # (sanitized name, kind, sorted labels)


def _prometheus_name(text: str, bad_char: re.Pattern) -> str:
    name = bad_char.sub("_", text)
    return "_" + name if not name or name[0].isdigit() else name


# The parser refuses names over 256 and tag keys over 128 characters, so these hold ≤ ~13 MB each.
@functools.lru_cache(maxsize=16_384)  # names repeat on every packet; the C cache is cheaper than the regex
def metric_name(name: str) -> str:
    """A StatsD name made a valid Prometheus metric name: `api.requests` → `api_requests`."""
    return _prometheus_name(name, NOT_METRIC_NAME_CHAR)


@functools.lru_cache(maxsize=16_384)
def label_name(key: str) -> str:
    """A tag key made a valid Prometheus label name that isn't reserved (no leading '__')."""
    name = _prometheus_name(key, NOT_LABEL_NAME_CHAR)
    return "tag" + name if is_reserved_label_name(name) else name


SERIES_KEYS_MAX_BYTES = 32 * 1024 * 1024


def series_key_size(key: tuple, value: object = None) -> int:
    """Bytes a series key (and its memo entry: the raw key and the sanitized one) holds, estimated."""
    name, _, tags = key
    return 2 * (len(name) + sum([len(k) + len(v) for k, v in tags])) + 250 + 150 * len(tags)


# Keyed by the sender's tag lists (up to a datagram long): bounded in bytes, not entries.
_SERIES_KEYS: BoundedCache[tuple, SeriesKey] = self_metrics.watch_cache(
    "statsd_series_keys", BoundedCache(SERIES_KEYS_MAX_BYTES, series_key_size))


def series_key(name: str, kind: str, tags: tuple[tuple[str, str], ...]) -> SeriesKey:
    """The identity of the series a metric belongs to; kinds ms/h/d stay apart as sent."""
    memo = (name, kind, tags)
    key = _SERIES_KEYS.get(memo)
    if key is None:
        labels = dict(sorted((label_name(k), value) for k, value in tags))  # sorted: the greatest value wins
        key = _SERIES_KEYS.put(memo, (metric_name(name), kind, tuple(labels.items())))
    return key


@dataclass(slots=True)
class _Gauge:
    value: float = 0.0
    fresh: bool = True  # updated since the last flush
    idle: int = 0  # flushes in a row without an update


@dataclass(slots=True)
class _Timer:
    count: float = 0.0  # Σ 1/sample_rate
    values: list[float] = field(default_factory=list)


class Aggregator:
    """Accumulates metrics between flushes; flush() turns them into samples and resets the interval."""

    def __init__(self, config: StatsdConfig, now: Callable[[], float]) -> None:
        self.config = config
        self._now = now
        self._last_flush_s = now()
        self._counters: dict[SeriesKey, float] = {}
        self._gauges: dict[SeriesKey, _Gauge] = {}
        self._timers: dict[SeriesKey, _Timer] = {}
        self._sets: dict[SeriesKey, set[str]] = {}
        # Exact fractions: 99.9 · 1000 / 100 in floats is 999.0000000000001, whose ceiling is wrong.
        self._quantiles = [(Fraction(repr(p)) / 100, repr(float(Fraction(repr(p)) / 100)))
                           for p in config.percentiles]
        self.dropped = 0  # metrics refused because max_series series were already held
        self.failed = 0  # series left out of a flush because summarising them raised (a bug of ours)

    @property
    def series_count(self) -> int:
        """Series held right now (what max_series bounds)."""
        return len(self._counters) + len(self._gauges) + len(self._timers) + len(self._sets)

    def _admit(self) -> bool:
        if self.series_count < self.config.max_series:
            return True
        self.dropped += 1
        return False

    def add(self, metrics: Iterable[Metric]) -> None:
        """Fold parsed metrics into the current interval."""
        counters, gauges, timers, sets = self._counters, self._gauges, self._timers, self._sets
        for metric in metrics:
            kind = metric.kind
            key = series_key(metric.name, kind, metric.tags)
            if kind == "c":
                increment = metric.value / metric.sample_rate
                if key in counters:
                    counters[key] += increment
                elif self._admit():
                    counters[key] = increment
            elif kind in _TIMER_KINDS:
                timer = timers.get(key)
                if timer is None:
                    if not self._admit():
                        continue
                    timer = timers[key] = _Timer()
                timer.count += 1.0 / metric.sample_rate
                timer.values.append(metric.value)
            elif kind == "g":
                gauge = gauges.get(key)
                if gauge is None:
                    if not self._admit():
                        continue
                    gauge = gauges[key] = _Gauge()
                gauge.value = gauge.value + metric.value if metric.delta else metric.value
                gauge.fresh = True
            elif kind == "s":
                members = sets.get(key)
                if members is None:
                    if not self._admit():
                        continue
                    members = sets[key] = set()
                members.add(metric.value)
            else:
                raise ValueError(f"unknown metric kind '{kind}'")

    def flush(self, now_s: float | None = None) -> list[dict]:
        """Samples of the interval ending at now_s (default: the clock), then start a new interval."""
        if now_s is None:
            now_s = self._now()
        timestamp_ms = round(now_s * 1000)
        elapsed = now_s - self._last_flush_s
        if not elapsed > 0:  # the clock didn't advance (or went back): use the nominal interval
            elapsed = self.config.flush_interval_s
        self._last_flush_s = now_s
        # The interval's state is taken before it is read: whatever goes wrong below, the next interval
        # starts empty instead of failing on the same data forever.
        counters, self._counters = self._counters, {}
        timers, self._timers = self._timers, {}
        sets, self._sets = self._sets, {}
        samples: list[dict] = []

        def emit(name: str, labels: tuple[tuple[str, str], ...], value: float) -> None:
            samples.append({"name": name, "labels": dict(labels), "value": float(value),
                            "timestamp_ms": timestamp_ms})

        for (name, _, labels), count in counters.items():
            emit(name, labels, count)
            emit(name + "_rate", labels, count / elapsed)

        idle_limit = self.config.delete_idle_after_flushes
        for key, gauge in list(self._gauges.items()):
            if gauge.fresh:
                gauge.fresh = False
                gauge.idle = 0
            else:
                gauge.idle += 1
                if gauge.idle > idle_limit:
                    del self._gauges[key]
                    continue
            emit(key[0], key[2], gauge.value)

        for (name, _, labels), timer in timers.items():
            try:
                summary = self._summary(timer)
            except Exception:  # one series must not cost the others their flush
                self.failed += 1
                log.exception("StatsD timer '%s' could not be summarised; left out of this flush", name[:80])
                continue
            for suffix, quantile, value in summary:
                emit(name + suffix, labels if quantile is None else labels + (("quantile", quantile),), value)

        for (name, _, labels), members in sets.items():
            emit(name, labels, len(members))
        return samples

    def _summary(self, timer: _Timer) -> list[tuple[str, str | None, float]]:
        """(name suffix, quantile label or None, value) of one timer's interval."""
        values = sorted(timer.values)
        total = _sum(values)
        summary = [("_count", None, timer.count), ("_sum", None, total), ("_min", None, values[0]),
                   ("_max", None, values[-1]), ("_mean", None, total / len(values))]
        for fraction, quantile in self._quantiles:
            rank = max(1, math.ceil(fraction * len(values)))  # nearest-rank, 1-based
            summary.append(("", quantile, values[rank - 1]))
        return summary


def _sum(values: list[float]) -> float:
    """The correctly rounded sum of finite values; ±Inf when it is past the float range."""
    try:
        return math.fsum(values)
    except OverflowError:
        units = sum(n * (_UNITS_PER_ONE // d) for n, d in map(float.as_integer_ratio, values))
        try:
            return units / _UNITS_PER_ONE
        except OverflowError:
            return math.inf if units > 0 else -math.inf
