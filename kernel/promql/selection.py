"""Reading selectors: which raw samples to fetch, and the samples an instant or range selector sees.

Mirrors Prometheus 2.42 promql/engine.go: getTimeRangesForSelector (what to fetch),
vectorSelectorSingle (lookback: the newest sample in [t - lookback, t], none if it is a staleness
marker) and matrixIterSlice (ranges include both ends, staleness markers are dropped).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from math import isnan

from .model import Sample, Series, is_stale
from .nodes import At, Expr, MatrixSelector, Subquery, VectorSelector, children
from .storage import Storage


def resolve_at(at: At, start_ms: int, end_ms: int) -> int | None:
    """Return the absolute time of an `@` modifier (start()/end() are the query's bounds)."""
    if at is None:
        return None
    if at == "start":
        return start_ms
    if at == "end":
        return end_ms
    return at


def plan_fetch(root: Expr, start_ms: int, end_ms: int, lookback_ms: int) -> dict[int, tuple[int, int]]:
    """Return, per VectorSelector node id, the [mint, maxt] of samples a query over [start, end] reads."""
    out: dict[int, tuple[int, int]] = {}

    def visit(node: Expr, lo: int, hi: int, range_ms: int | None) -> None:
        if isinstance(node, MatrixSelector):
            visit(node.selector, lo, hi, node.range_ms)
            return
        if isinstance(node, VectorSelector):
            at = resolve_at(node.at, start_ms, end_ms)
            if at is not None:
                lo = hi = at
            lo -= lookback_ms if range_ms is None else range_ms
            lo, hi = lo - node.offset_ms, hi - node.offset_ms
            prev = out.get(id(node))
            out[id(node)] = (lo, hi) if prev is None else (min(prev[0], lo), max(prev[1], hi))
            return
        if isinstance(node, Subquery):
            at = resolve_at(node.at, start_ms, end_ms)
            if at is not None:
                lo = hi = at
            visit(node.expr, lo - node.offset_ms - node.range_ms, hi - node.offset_ms, None)
            return
        for child in children(node):
            visit(child, lo, hi, None)

    visit(root, start_ms, end_ms, None)
    return out


@dataclass(slots=True)
class Fetched:
    """One selector's series as fetched: raw (with staleness markers) and clean (for ranges)."""

    raw: list[Series]
    clean: list[Series]


def fetch(storage: Storage, node: VectorSelector, window: tuple[int, int]) -> Fetched:
    """Select the series of `node` over `window` and prepare the stale-free copy ranges use."""
    raw = storage.select(list(node.matchers), window[0], window[1])
    clean = []
    for s in raw:
        if any(map(isnan, s.values)) and any(v != v and is_stale(v) for v in s.values):  # NaNs are rare: C first
            keep = [i for i, v in enumerate(s.values) if not is_stale(v)]
            s = Series(s.labels, [s.timestamps[i] for i in keep], [s.values[i] for i in keep])
        clean.append(s)
    return Fetched(raw, clean)


def instant_samples(data: Fetched, ref_ms: int, lookback_ms: int, out_ts: int | None) -> list[Sample]:
    """Return each series' newest sample in [ref - lookback, ref] unless it is a staleness marker.

    The sample's timestamp is `out_ts`, or the sample's own time when out_ts is None (timestamp()).
    """
    lo = ref_ms - lookback_ms
    out = []
    for s in data.raw:
        tss = s.timestamps
        i = bisect_right(tss, ref_ms) - 1
        if i < 0 or tss[i] < lo:
            continue
        v = s.values[i]
        if v != v and is_stale(v):
            continue
        out.append(Sample(s.labels, v, tss[i] if out_ts is None else out_ts))
    return out


def range_series(data: Fetched, lo_ms: int, hi_ms: int) -> list[Series]:
    """Return each series' samples in [lo, hi], leaving out series with none."""
    out = []
    for s in data.clean:
        tss = s.timestamps
        i = bisect_left(tss, lo_ms)
        j = bisect_right(tss, hi_ms)
        if i == 0 and j == len(tss):
            out.append(s)  # the whole series: no copy (range functions only read it)
        elif i < j:
            out.append(Series(s.labels, tss[i:j], s.values[i:j]))
    return out
