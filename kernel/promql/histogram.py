"""histogram_quantile over classic (`le`-labelled bucket) histograms.

Prometheus 2.42 promql/quantile.go bucketQuantile, coalesceBuckets, ensureMonotonic and
functions.go funcHistogramQuantile. Native histograms are not supported: Vigil stores floats only.
https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile
"""

from __future__ import annotations

import math
from bisect import bisect_left

from . import gomath
from .model import METRIC_NAME, LabelsKey, Sample, Vector

BUCKET_LABEL = "le"


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Return the q-quantile from (upper bound, cumulative count) pairs by linear interpolation."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return math.nan
    # Coalesce buckets with the same bound (e.g. "1" and "1.0"), then force counts monotonic.
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    high = -math.inf
    for b in merged:
        if b[1] > high:
            high = b[1]
        elif b[1] < high:
            b[1] = high
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    counts = [b[1] for b in merged[:-1]]
    i = _search(counts, rank)
    if i == len(merged) - 1:
        return merged[-2][0]
    if i == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end, count = merged[i][0], merged[i][1]
    if i > 0:
        start = merged[i - 1][0]
        count -= merged[i - 1][1]
        rank -= merged[i - 1][1]
    return start + (end - start) * gomath.div(rank, count)


def _search(counts: list[float], rank: float) -> int:
    # Go's sort.Search: the first index whose count >= rank (counts are monotonic by now).
    if rank != rank:
        return len(counts)
    return bisect_left(counts, rank)


def histogram_quantile(q: float, vec: Vector, ts: int) -> Vector:
    """Compute the q-quantile per histogram: samples grouped by all labels but `le`."""
    groups: dict[LabelsKey, tuple[dict[str, str], list[tuple[float, float]]]] = {}  # (labels, [(le, count)])
    for s in vec:
        le = s.labels.get(BUCKET_LABEL)
        if le is None:
            continue
        try:
            bound = gomath.parse_float(le)
        except ValueError:
            continue  # Prometheus skips a malformed bucket bound
        key = tuple(sorted(kv for kv in s.labels.items() if kv[0] != BUCKET_LABEL))
        group = groups.get(key)
        if group is None:
            labels = {k: v for k, v in key if k != METRIC_NAME}
            group = groups[key] = (labels, [])
        group[1].append((bound, s.value))
    return [Sample(labels, bucket_quantile(q, buckets), ts) for labels, buckets in groups.values()]
