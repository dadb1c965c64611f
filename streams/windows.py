"""Sliding windows of one series on event time, and the PromQL functions over them.

Formulas follow Prometheus (promql/functions.go): `rate`/`increase` extrapolate to the window
edges and add back counter resets, `deriv` is the least-squares slope, `quantile_over_time`
interpolates linearly between ranks. The window is evaluated at the newest sample's time.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Callable

Points = list[list[float]]  # [[ts_ms, value], ...] oldest first (JSON-friendly)


def add(points: Points, ts: int, value: float, window_ms: int, max_points: int) -> bool:
    """Insert a sample (out-of-order ones in place); False for a duplicate timestamp."""
    if points and ts <= points[-1][0]:
        i = bisect_right(points, [ts, math.inf])
        if i and points[i - 1][0] == ts:
            return False
        insort(points, [ts, value])
    else:
        points.append([ts, value])
    newest = points[-1][0]
    start = 0
    while start < len(points) and points[start][0] <= newest - window_ms:
        start += 1
    if len(points) - start > max_points:
        start = len(points) - max_points
    if start:
        del points[:start]
    return True


def _extrapolated(points: Points, window_s: float, counter: bool, per_second: bool) -> float | None:
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    if counter:
        prev = first_v
        for _, v in points[1:]:
            if v < prev:
                result += prev
            prev = v
    range_end = last_t / 1000
    range_start = range_end - window_s
    to_start = first_t / 1000 - range_start
    to_end = 0.0  # evaluated at the newest sample
    sampled = (last_t - first_t) / 1000
    if sampled <= 0:
        return None
    average_gap = sampled / (len(points) - 1)
    if counter and result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    threshold = average_gap * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average_gap / 2
    interval += to_end if to_end < threshold else average_gap / 2
    result *= interval / sampled
    return result / window_s if per_second else result


def rate(points: Points, window_s: float) -> float | None:
    """Per-second increase of a counter over the window, resets handled."""
    return _extrapolated(points, window_s, counter=True, per_second=True)


def increase(points: Points, window_s: float) -> float | None:
    """Increase of a counter over the window, resets handled."""
    return _extrapolated(points, window_s, counter=True, per_second=False)


def deriv(points: Points, window_s: float) -> float | None:
    """Per-second slope of a gauge by simple linear regression."""
    n = len(points)
    if n < 2:
        return None
    t0 = points[0][0]
    xs = [(t - t0) / 1000 for t, _ in points]
    mean_x = sum(xs) / n
    mean_y = sum(v for _, v in points) / n
    cov = sum((x - mean_x) * (v - mean_y) for x, (_, v) in zip(xs, points))
    var = sum((x - mean_x) ** 2 for x in xs)
    return cov / var if var else None


def quantile(points: Points, q: float) -> float | None:
    """Prometheus' quantile_over_time: linear interpolation between ranks."""
    if not points:
        return None
    values = sorted(v for _, v in points)
    rank = q * (len(values) - 1)
    lower = math.floor(rank)
    upper = min(lower + 1, len(values) - 1)
    weight = rank - lower
    return values[lower] * (1 - weight) + values[upper] * weight


def _avg(points: Points) -> float:
    return sum(v for _, v in points) / len(points)


OVER_TIME: dict[str, Callable[[Points], float]] = {
    "avg_over_time": _avg,
    "min_over_time": lambda p: min(v for _, v in p),
    "max_over_time": lambda p: max(v for _, v in p),
    "sum_over_time": lambda p: sum(v for _, v in p),
    "count_over_time": lambda p: float(len(p)),
}
RANGE_FUNCTIONS: dict[str, Callable[[Points, float], float | None]] = {
    "rate": rate, "increase": increase, "deriv": deriv}
