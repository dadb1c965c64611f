"""Functions over instant vectors and scalars: math, clamping, rounding, time and date, labels,
sorting, absent, scalar/vector conversion, histogram_quantile.

Each takes the evaluated arguments (Vector, Scalar or String values), the Call node and the
evaluation time, and returns a Vector or Scalar. Follows Prometheus 2.42 promql/functions.go.
https://prometheus.io/docs/prometheus/latest/querying/functions/
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from . import gomath
from .histogram import histogram_quantile
from .label_functions import label_join, label_replace
from .model import Sample, Scalar, Value, Vector, without_name
from .nodes import Call, MatrixSelector, VectorSelector


def _simple(fn: Callable[[float], float]) -> Callable[[list[Value], Call, int], Vector]:
    """A function applying `fn` to each sample's value and dropping the metric name."""

    def apply(args, node: Call, ts: int) -> Vector:
        return [Sample(without_name(s.labels), fn(s.value), ts) for s in args[0]]

    return apply


def _sgn(v: float) -> float:
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


MATH: dict[str, Callable[[float], float]] = {
    "abs": abs, "ceil": gomath.ceil, "floor": gomath.floor,
    "exp": gomath.guarded(math.exp), "sqrt": gomath.guarded(math.sqrt),
    "ln": gomath.log_of(math.log), "log2": gomath.log2, "log10": gomath.log10,
    "sgn": _sgn,
    "sin": gomath.guarded(math.sin), "cos": gomath.guarded(math.cos), "tan": gomath.guarded(math.tan),
    "asin": gomath.guarded(math.asin), "acos": gomath.guarded(math.acos), "atan": math.atan,
    "sinh": gomath.guarded(math.sinh, overflow_sign=lambda v: v), "cosh": gomath.guarded(math.cosh),
    "tanh": math.tanh, "asinh": math.asinh, "acosh": gomath.guarded(math.acosh), "atanh": gomath.atanh,
    "deg": lambda v: v * 180 / math.pi, "rad": lambda v: v * math.pi / 180,
}


def _scalar_arg(args, i: int, default: float) -> float:
    return args[i].value if len(args) > i else default


def _round(args, node, ts):
    to_nearest_inverse = gomath.div(1.0, _scalar_arg(args, 1, 1.0))
    return [
        Sample(without_name(s.labels),
               gomath.div(gomath.floor(s.value * to_nearest_inverse + 0.5), to_nearest_inverse), ts)
        for s in args[0]
    ]


def _clamp(args, node, ts):
    low, high = args[1].value, args[2].value
    if high < low:
        return []
    return [Sample(without_name(s.labels), gomath.fmax(low, gomath.fmin(high, s.value)), ts) for s in args[0]]


def _clamp_max(args, node, ts):
    high = args[1].value
    return [Sample(without_name(s.labels), gomath.fmin(s.value, high), ts) for s in args[0]]


def _clamp_min(args, node, ts):
    low = args[1].value
    return [Sample(without_name(s.labels), gomath.fmax(s.value, low), ts) for s in args[0]]


def _time(args, node, ts):
    return Scalar(ts / 1000, ts)


def _pi(args, node, ts):
    return Scalar(math.pi, ts)


def _vector(args, node, ts):
    return [Sample({}, args[0].value, ts)]


def _scalar(args, node, ts):
    vec = args[0]
    return Scalar(vec[0].value if len(vec) == 1 else math.nan, ts)


def _timestamp(args, node, ts):
    # The engine hands in samples carrying their own time when the argument is a plain selector.
    return [Sample(without_name(s.labels), s.timestamp_ms / 1000, ts) for s in args[0]]


def _sort(args, node, ts):
    return sorted(args[0], key=lambda s: (s.value != s.value, s.value if s.value == s.value else 0.0))


def _sort_desc(args, node, ts):
    return sorted(args[0], key=lambda s: (s.value != s.value, -s.value if s.value == s.value else 0.0))


def absent_labels(arg) -> dict[str, str]:
    """Labels absent()/absent_over_time() give: the selector's equality matchers, if unambiguous."""
    if isinstance(arg, MatrixSelector):
        arg = arg.selector
    if not isinstance(arg, VectorSelector):
        return {}
    labels: dict[str, str] = {}
    ambiguous = []
    for m in arg.matchers:
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in labels:
            if m.value:
                labels[m.name] = m.value
        else:
            ambiguous.append(m.name)
    for name in ambiguous:
        labels.pop(name, None)
    return labels


def _absent(args, node, ts):
    if args[0]:
        return []
    return [Sample(absent_labels(node.args[0]), 1.0, ts)]


def _histogram_quantile(args, node, ts):
    return histogram_quantile(args[0].value, args[1], ts)


def _native_only(args, node, ts):
    # histogram_count/sum/fraction read native histograms only; float series give nothing.
    return []


def _date(part: str) -> Callable[[list[Value], Call, int], Vector]:
    def apply(args, node, ts):
        if not args:
            return [Sample({}, _date_part(part, ts // 1000 if ts >= 0 else -((-ts) // 1000)), ts)]
        return [Sample(without_name(s.labels), _date_part(part, gomath.to_int64(s.value)), ts) for s in args[0]]

    return apply


def _date_part(part: str, seconds: int) -> float:
    try:
        t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seconds)
    except OverflowError:
        return math.nan  # beyond Python's datetime range (Go would still compute something)
    if part == "year":
        return float(t.year)
    if part == "month":
        return float(t.month)
    if part == "day_of_month":
        return float(t.day)
    if part == "day_of_week":
        return float(t.isoweekday() % 7)  # Sunday is 0, as Go's time.Weekday
    if part == "day_of_year":
        return float(t.timetuple().tm_yday)
    if part == "hour":
        return float(t.hour)
    if part == "minute":
        return float(t.minute)
    # days_in_month
    nxt = dt.date(t.year + (t.month == 12), t.month % 12 + 1, 1)
    return float((nxt - dt.date(t.year, t.month, 1)).days)


INSTANT_FUNCTIONS = {name: _simple(fn) for name, fn in MATH.items()}
INSTANT_FUNCTIONS.update({
    "round": _round, "clamp": _clamp, "clamp_max": _clamp_max, "clamp_min": _clamp_min,
    "time": _time, "pi": _pi, "vector": _vector, "scalar": _scalar, "timestamp": _timestamp,
    "sort": _sort, "sort_desc": _sort_desc, "absent": _absent,
    "label_replace": label_replace, "label_join": label_join,
    "histogram_quantile": _histogram_quantile,
    "histogram_count": _native_only, "histogram_sum": _native_only, "histogram_fraction": _native_only,
})
for _part in ("year", "month", "day_of_month", "day_of_week", "day_of_year", "hour", "minute", "days_in_month"):
    INSTANT_FUNCTIONS[_part] = _date(_part)

# Functions whose output keeps the input's labels as they are (no duplicate-labelset risk added).
KEEP_LABELS = frozenset({"sort", "sort_desc"})

