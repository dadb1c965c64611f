"""Prometheus' duration strings: parsing (`1h30m`, `2d`, `0`) and the two ways Go prints durations.

Rule files and promtool test files use `model.Duration` from prometheus/common (v0.39, which
Prometheus 2.42 vendors): `^((\\d+)y)?((\\d+)w)?((\\d+)d)?((\\d+)h)?((\\d+)m)?((\\d+)s)?((\\d+)ms)?$`, units
in that order, each at most once, plus the bare `0`.
See https://github.com/prometheus/common/blob/v0.39.0/model/time.go (ParseDuration, Duration.String).
promtool prints evaluation errors with Go's `time.Duration.String` (`5m0s`), which differs.
"""

from __future__ import annotations

import re

from kernel.gotemplate.strconv import quote as go_quote

_UNITS_MS = (("y", 365 * 24 * 3_600_000), ("w", 7 * 24 * 3_600_000), ("d", 24 * 3_600_000),
             ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_MAX_MS = (1 << 63) // 1_000_000  # Go keeps durations in int64 nanoseconds


class DurationError(ValueError):
    """A string that is not a Prometheus duration; the message is prometheus/common's."""


def parse_duration(text: str) -> int:
    """Milliseconds in a Prometheus duration string (`5m`, `1h30m`, `0`); raises DurationError."""
    if text == "":
        raise DurationError("empty duration string")
    if text == "0":
        return 0  # allowed without a unit, as in prometheus/common
    match = _DURATION_RE.match(text)
    if not match:
        raise DurationError(f"not a valid duration string: {go_quote(text)}")
    total = 0
    for (_unit, mult), digits in zip(_UNITS_MS, match.groups()):
        if digits is None:
            continue
        total += int(digits) * mult
        if total > _MAX_MS:
            raise DurationError("duration out of range")
    return total


def format_duration(ms: int) -> str:
    """prometheus/common's Duration.String: `5m`, `1d3h`, `90d`, `0s` (years/weeks only when exact)."""
    if ms == 0:
        return "0s"
    out = []
    for unit, mult in _UNITS_MS:
        if unit in ("y", "w") and ms % mult != 0:
            continue
        count, ms = divmod(ms, mult)
        if count > 0:
            out.append(f"{count}{unit}")
    return "".join(out)


def format_go_duration(ms: int) -> str:
    """Go's time.Duration.String for whole milliseconds: `0s`, `1.5s`, `5m0s`, `1h0m0s`."""
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    secs = f"{seconds}" + (f".{millis:03d}".rstrip("0") if millis else "") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return f"{sign}{secs}"
