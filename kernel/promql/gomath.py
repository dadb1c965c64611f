"""Float arithmetic with Go's semantics, where Python's math raises instead of returning NaN/±Inf.

Prometheus computes with Go's float64 and math package (https://pkg.go.dev/math); Python raises
ZeroDivisionError, ValueError or OverflowError in cases where Go returns NaN or an infinity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

INF = math.inf
NAN = math.nan


def div(a: float, b: float) -> float:
    """a / b, with IEEE results for division by zero."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def mod(a: float, b: float) -> float:
    """Go's math.Mod: the sign follows the dividend; NaN for b == 0 or an infinite a."""
    try:
        return math.fmod(a, b)
    except ValueError:
        return NAN


def _is_odd_integer(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0


def power(x: float, y: float) -> float:
    """Go's math.Pow."""
    try:
        return math.pow(x, y)
    except ValueError:
        if x == 0:  # zero to a negative power
            return math.copysign(INF, x) if _is_odd_integer(y) else INF
        return NAN
    except OverflowError:
        return -INF if x < 0 and _is_odd_integer(y) else INF


def fmax(a: float, b: float) -> float:
    """Go's math.Max: NaN wins over anything but +Inf; +0 beats -0."""
    if a == INF or b == INF:
        return INF
    if a != a or b != b:
        return NAN
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) > 0 else b
    return a if a > b else b


def fmin(a: float, b: float) -> float:
    """Go's math.Min: NaN wins over anything but -Inf; -0 beats +0."""
    if a == -INF or b == -INF:
        return -INF
    if a != a or b != b:
        return NAN
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def floor(v: float) -> float:
    """Go's math.Floor (keeps ±Inf, NaN and the sign of zero)."""
    if not math.isfinite(v):
        return v
    r = float(math.floor(v))
    return math.copysign(r, v) if r == 0 else r


def ceil(v: float) -> float:
    """Go's math.Ceil."""
    if not math.isfinite(v):
        return v
    r = float(math.ceil(v))
    return math.copysign(r, v) if r == 0 else r


def log_of(fn: Callable[[float], float]) -> Callable[[float], float]:
    """Wrap a logarithm: log(0) = -Inf, log(x<0) = NaN, as in Go."""

    def log(v: float) -> float:
        if v == 0:
            return -INF
        if v < 0 or v != v:
            return NAN
        return fn(v)

    return log


# Go evaluates constant expressions exactly and rounds once; these are 1/Ln10 and 1/Ln2.
_INV_LN10 = 0.43429448190325182765112891891660508229439700580366656611445378316586464920887
_INV_LN2 = 1.44269504088896340735992468100189213742664595415298593413544940693110921918


def _go_log2(v: float) -> float:
    # Go's math.Log2: exact for powers of two, else Log(frac)/Ln2 + exp.
    frac, exp = math.frexp(v)
    if frac == 0.5:
        return float(exp - 1)
    return math.log(frac) * _INV_LN2 + exp


def log2(v: float) -> float:
    """Go's math.Log2."""
    if v == 0:
        return -INF
    if v < 0 or v != v:
        return NAN
    if v == INF:
        return INF
    return _go_log2(v)


def log10(v: float) -> float:
    """Go's math.Log10 (Log(v) * (1/Ln10), which can differ from C's log10 in the last bit)."""
    if v == 0:
        return -INF
    if v < 0 or v != v:
        return NAN
    if v == INF:
        return INF
    return math.log(v) * _INV_LN10


def guarded(fn: Callable[[float], float],
            overflow_sign: Callable[[float], float] = lambda v: 1.0) -> Callable[[float], float]:
    """Wrap a math function: domain errors give NaN, overflow gives ±Inf (Go's behaviour)."""

    def call(v: float) -> float:
        try:
            return fn(v)
        except ValueError:
            return NAN
        except OverflowError:
            return math.copysign(INF, overflow_sign(v))

    return call


def atanh(v: float) -> float:
    """Go's math.Atanh: ±Inf at ±1, NaN outside [-1, 1]."""
    if v == 1:
        return INF
    if v == -1:
        return -INF
    try:
        return math.atanh(v)
    except ValueError:
        return NAN


def format_f(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if v != v:
        return "NaN"
    if v == INF:
        return "+Inf"
    if v == -INF:
        return "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_float(text: str) -> float:
    """Go's strconv.ParseFloat(text, 64); raise ValueError for what Go rejects."""
    if not text or text != text.strip() or "_" in text:
        raise ValueError(text)
    lower = text.lower().lstrip("+-")
    if lower in ("inf", "infinity", "nan"):
        return float(text)
    if lower.startswith("0x"):
        return float.fromhex(text)
    if not all(c in "0123456789.eE+-" for c in text):
        raise ValueError(text)
    return float(text)


def to_int64(v: float) -> int:
    """Go's int64(v) for the finite range (truncation toward zero); extreme values saturate."""
    if v != v or math.isinf(v):
        return -(2**63)
    return int(v)
