"""Prometheus' humanize* template functions: numbers, bytes, durations, percentages, timestamps.

Ported from Prometheus 2.42 template/template.go; values arrive as Go interface{} and are converted
as its `convertToFloat` does (a string is parsed, an unsupported type is an error).
"""

from __future__ import annotations

import math
from typing import Any

from .fmt import sprintf
from .functions import GoError
from .gotime import GoTime
from .strconv import parse_float
from .values import go_type

_BIG = ("k", "M", "G", "T", "P", "E", "Z", "Y")
_SMALL = ("m", "u", "n", "p", "f", "a", "z", "y")
_BINARY = ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")
_INT64_MAX = 2.0 ** 63


def to_float(value: Any) -> float:
    """Prometheus' convertToFloat: float64, int types and numeric strings; else a Go-worded error."""
    if isinstance(value, float):
        return value
    if isinstance(value, str) and type(value) is str:
        try:
            return parse_float(value)
        except ValueError as error:
            raise GoError(str(error)) from None
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise GoError(f"can't convert {go_type(value)} to float")


def humanize(value: Any) -> str:
    """1234567 → 1.235M, 0.001 → 1m: SI prefixes, 4 significant digits."""
    v = to_float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    if abs(v) >= 1:
        prefix = ""
        for p in _BIG:
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
        return sprintf("%.4g%s", v, prefix)
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return sprintf("%.4g%s", v, prefix)


def humanize1024(value: Any) -> str:
    """1048576 → 1Mi: binary prefixes."""
    v = to_float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    prefix = ""
    for p in _BINARY:
        if abs(v) < 1024:
            break
        prefix, v = p, v / 1024
    return sprintf("%.4g%s", v, prefix)


def humanize_duration(value: Any) -> str:
    """90061 → 1d 1h 1m 1s; 0.0015 → 1.5ms."""
    v = to_float(value)
    if math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", v)
    if v == 0:
        return sprintf("%.4gs", v)
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        whole = _int64(v)
        seconds = _trunc_mod(whole, 60)
        minutes = _trunc_mod(_trunc_div(whole, 60), 60)
        hours = _trunc_mod(_trunc_div(_trunc_div(whole, 60), 60), 24)
        days = _trunc_div(_trunc_div(_trunc_div(whole, 60), 60), 24)
        if days:
            return sprintf("%s%dd %dh %dm %ds", sign, days, hours, minutes, seconds)
        if hours:
            return sprintf("%s%dh %dm %ds", sign, hours, minutes, seconds)
        if minutes:
            return sprintf("%s%dm %ds", sign, minutes, seconds)
        return sprintf("%s%.4gs", sign, v)
    prefix = ""
    for p in _SMALL:
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return sprintf("%.4g%ss", v, prefix)


def humanize_percentage(value: Any) -> str:
    """0.1234 → 12.34%."""
    return sprintf("%.4g%%", to_float(value) * 100)


def float_to_time(v: float) -> GoTime | None:
    """Prometheus' floatToTime: seconds → a UTC time at millisecond precision; None for NaN/Inf."""
    if math.isnan(v) or math.isinf(v):
        return None
    ns = v * 1e9
    if ns > _INT64_MAX or ns < -_INT64_MAX:
        raise GoError(f"{sprintf('%v', v)} cannot be represented as a nanoseconds timestamp since it "
                      "overflows int64")
    ms = _trunc_div(_int64(ns), 1_000_000)  # model.TimeFromUnixNano keeps milliseconds
    return GoTime(ms * 1_000_000)


def humanize_timestamp(value: Any) -> str:
    """1600000000 → 2020-09-13 12:26:40 +0000 UTC."""
    v = to_float(value)
    time = float_to_time(v)
    if time is None:
        return sprintf("%.4g", v)
    return time.go_string()


def to_time(value: Any) -> GoTime:
    """Seconds since the epoch as a time (Prometheus' `toTime`)."""
    v = to_float(value)
    time = float_to_time(v)
    if time is None:
        raise GoError("value is NaN or Inf")
    return time


def _int64(v: float) -> int:
    """Go's int64(float64) conversion (truncation; out-of-range values wrap to the minimum on amd64)."""
    if math.isnan(v) or abs(v) >= _INT64_MAX:
        return -(1 << 63)
    return int(v)


def _trunc_div(a: int, b: int) -> int:
    """Go's integer division, which truncates toward zero."""
    q = abs(a) // b
    return q if a >= 0 else -q


def _trunc_mod(a: int, b: int) -> int:
    """Go's %, whose result takes the sign of the dividend."""
    return a - _trunc_div(a, b) * b
