"""Functions over range vectors: rate/increase/delta with Prometheus' extrapolation, irate/idelta,
deriv/predict_linear, holt_winters, changes/resets and the *_over_time family.

Each takes one series' points in the window plus a RangeWindow and the call's scalar arguments, and
returns a float or None (no output for that series). Follows Prometheus 2.42 promql/functions.go.
https://prometheus.io/docs/prometheus/latest/querying/functions/
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import gomath
from .errors import PromQLError
from .quantile import quantile


@dataclass(slots=True)
class RangeWindow:
    """Where a range argument was taken: [start_ms, end_ms], and the evaluation step's time."""

    start_ms: int
    end_ms: int
    eval_ms: int

    @property
    def range_seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def _extrapolated_rate(ts: list[int], vs: list[float], w: RangeWindow, is_counter: bool, is_rate: bool):
    # functions.go extrapolatedRate: extrapolate to the window edges unless the first/last sample
    # is further than 1.1 average intervals from them, and never below zero for counters.
    n = len(ts)
    if n < 2:
        return None
    result = vs[-1] - vs[0]
    if is_counter:
        prev = vs[0]
        for v in vs[1:]:
            if v < prev:
                result += prev
            prev = v
    to_start = (ts[0] - w.start_ms) / 1000
    to_end = (w.end_ms - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    average = sampled / (n - 1)
    if is_counter and result > 0 and vs[0] >= 0:
        to_zero = sampled * (vs[0] / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = interval / sampled
    if is_rate:
        factor /= w.range_seconds
    return result * factor


def rate(ts, vs, w, args):
    """Per-second average rate of increase of a counter, extrapolated to the window."""
    return _extrapolated_rate(ts, vs, w, True, True)


def increase(ts, vs, w, args):
    """Increase of a counter over the window, extrapolated."""
    return _extrapolated_rate(ts, vs, w, True, False)


def delta(ts, vs, w, args):
    """Difference between the first and last value of a gauge, extrapolated."""
    return _extrapolated_rate(ts, vs, w, False, False)


def _instant_value(ts, vs, is_rate: bool):
    if len(ts) < 2:
        return None
    last, previous = vs[-1], vs[-2]
    result = last if is_rate and last < previous else last - previous
    interval = ts[-1] - ts[-2]
    if interval == 0:
        return None
    if is_rate:
        result /= interval / 1000
    return result


def irate(ts, vs, w, args):
    """Per-second rate from the last two samples (a drop counts as a counter reset)."""
    return _instant_value(ts, vs, True)


def idelta(ts, vs, w, args):
    """Difference between the last two samples."""
    return _instant_value(ts, vs, False)


def _kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    # Kahan-Babuska (Neumaier) summation step, functions.go kahanSumInc.
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def _linear_regression(ts, vs, intercept_ms: int) -> tuple[float, float]:
    n = 0.0
    sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    init_y = vs[0]
    const_y = True
    for i, (t, v) in enumerate(zip(ts, vs)):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = (t - intercept_ms) / 1e3
        sum_x, c_x = _kahan_inc(x, sum_x, c_x)
        sum_y, c_y = _kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = _kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = _kahan_inc(x * x, sum_x2, c_x2)
    if const_y:
        if math.isinf(init_y):
            return math.nan, math.nan
        return 0.0, init_y
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = gomath.div(cov_xy, var_x)
    intercept = sum_y / n - slope * sum_x / n
    return slope, intercept


def deriv(ts, vs, w, args):
    """Per-second derivative by simple linear regression."""
    if len(ts) < 2:
        return None
    return _linear_regression(ts, vs, ts[0])[0]


def predict_linear(ts, vs, w, args):
    """Value `args[0]` seconds after the evaluation time, by linear regression."""
    if len(ts) < 2:
        return None
    slope, intercept = _linear_regression(ts, vs, w.eval_ms)
    return slope * args[0] + intercept


def holt_winters(ts, vs, w, args):
    """Double exponential smoothing with smoothing factor args[0] and trend factor args[1]."""
    sf, tf = args
    if sf <= 0 or sf >= 1:
        raise PromQLError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
    if tf <= 0 or tf >= 1:
        raise PromQLError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")
    if len(vs) < 2:
        return None
    s0, s1, b = 0.0, vs[0], vs[1] - vs[0]
    for i in range(1, len(vs)):
        x = sf * vs[i]
        if i > 1:  # calcTrendValue: the first step keeps the initial trend
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


def changes(ts, vs, w, args):
    """Number of times the value changed (NaN to NaN is no change)."""
    count, prev = 0, vs[0]
    for v in vs[1:]:
        if v != prev and not (v != v and prev != prev):
            count += 1
        prev = v
    return float(count)


def resets(ts, vs, w, args):
    """Number of counter resets (decreases)."""
    count, prev = 0, vs[0]
    for v in vs[1:]:
        if v < prev:
            count += 1
        prev = v
    return float(count)


def avg_over_time(ts, vs, w, args):
    """Average of the values, with Prometheus' overflow-safe incremental mean."""
    mean = c = count = 0.0
    for v in vs:
        count += 1
        if math.isinf(mean):
            if math.isinf(v) and (mean > 0) == (v > 0):
                continue
            if not math.isinf(v) and not math.isnan(v):
                continue
        mean, c = _kahan_inc(v / count - mean / count, mean, c)
    if math.isinf(mean):
        return mean
    return mean + c


def sum_over_time(ts, vs, w, args):
    """Sum of the values (compensated summation)."""
    total = c = 0.0
    for v in vs:
        total, c = _kahan_inc(v, total, c)
    if math.isinf(total):
        return total
    return total + c


def count_over_time(ts, vs, w, args):
    """Number of samples."""
    return float(len(vs))


def min_over_time(ts, vs, w, args):
    """Minimum value (NaN only if all are NaN)."""
    best = vs[0]
    for v in vs:
        if v < best or best != best:
            best = v
    return best


def max_over_time(ts, vs, w, args):
    """Maximum value (NaN only if all are NaN)."""
    best = vs[0]
    for v in vs:
        if v > best or best != best:
            best = v
    return best


def _variance(vs) -> float:
    count = mean = c_mean = aux = c_aux = 0.0
    for v in vs:
        count += 1
        delta_ = v - (mean + c_mean)
        mean, c_mean = _kahan_inc(delta_ / count, mean, c_mean)
        aux, c_aux = _kahan_inc(delta_ * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def stdvar_over_time(ts, vs, w, args):
    """Population variance of the values."""
    return _variance(vs)


def stddev_over_time(ts, vs, w, args):
    """Population standard deviation of the values."""
    return math.sqrt(_variance(vs))


def quantile_over_time(ts, vs, w, args):
    """The args[0]-quantile of the values."""
    return quantile(args[0], list(vs))


def last_over_time(ts, vs, w, args):
    """The most recent value."""
    return vs[-1]


def present_over_time(ts, vs, w, args):
    """1 for any series with samples in the window."""
    return 1.0


RANGE_FUNCTIONS: dict[str, Callable[[list[int], list[float], RangeWindow, list[float]], float | None]] = {
    f.__name__: f
    for f in (
        rate, increase, delta, irate, idelta, deriv, predict_linear, holt_winters, changes, resets,
        avg_over_time, sum_over_time, count_over_time, min_over_time, max_over_time,
        stdvar_over_time, stddev_over_time, quantile_over_time, last_over_time, present_over_time,
    )
}

# Which argument is the range vector; every other argument is a scalar.
MATRIX_ARG_INDEX = {"quantile_over_time": 1}

# last_over_time returns the series as they are; every other range function drops the name.
KEEPS_METRIC_NAME = frozenset({"last_over_time"})
