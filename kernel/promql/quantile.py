"""The φ-quantile of a list of floats, shared by the quantile aggregation and quantile_over_time.

Prometheus 2.42 promql/quantile.go `quantile`: linear interpolation between the closest ranks, NaNs
sorted first, -Inf/+Inf for φ below 0 / above 1.
"""

from __future__ import annotations

import math


def quantile(q: float, values: list[float]) -> float:
    """Return the q-quantile of `values` (NaN for none)."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if q != q:
        return math.nan
    ordered = sorted(values, key=lambda v: (0, 0.0) if v != v else (1, v))
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight
