"""Start, end and step of a range query, parsed the way Prometheus' HTTP API accepts them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from api.errors import BadParam

MAX_POINTS = 11_000  # Prometheus' own limit per series for query_range
DEFAULT_SPAN_S = 3600.0
DEFAULT_POINTS = 1000
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_S = (86400, 3600, 60, 1, 0.001)


@dataclass(frozen=True)
class TimeRange:
    """A validated query range in unix seconds."""

    start: float
    end: float
    step: float


def parse_time(name: str, text: str) -> float:
    """Unix seconds (`1700000000.5`) or RFC 3339 (`2026-11-25T09:00:00Z`) → unix seconds."""
    try:
        value = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise BadParam("query", name, f"{text[:60]!r} is neither unix seconds nor an RFC 3339 time") from None
        if stamp.tzinfo is None:
            raise BadParam("query", name, f"{text[:60]!r} has no time zone; add Z or +00:00") from None
        value = stamp.timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadParam("query", name, f"{text[:60]!r} is out of range")
    return value


def parse_step(text: str) -> float:
    """Seconds (`15`, `0.5`) or a Prometheus duration (`15s`, `1m`, `1h30m`) → seconds, > 0."""
    try:
        value = float(text)
    except ValueError:
        found = _DURATION.match(text)
        if not found or not any(found.groups()):
            raise BadParam("query", "step", f"{text[:60]!r} is neither seconds nor a duration like 15s, 1m, 1h30m") from None
        value = sum(int(part) * unit for part, unit in zip(found.groups(), _UNIT_S) if part)
    if not math.isfinite(value) or value <= 0:
        raise BadParam("query", "step", f"{text[:60]!r} must be a positive duration")
    return value


def parse_range(start: str | None, end: str | None, step: str | None, now: float) -> TimeRange:
    """Defaults: end = now, start = end - 1h, step = span / 1000 (at least 1 s)."""
    end_s = parse_time("end", end) if end else now
    start_s = parse_time("start", start) if start else end_s - DEFAULT_SPAN_S
    if end_s < start_s:
        raise BadParam("query", "end", "end is before start")
    step_s = parse_step(step) if step else max(1.0, (end_s - start_s) / DEFAULT_POINTS)
    points = (end_s - start_s) / step_s
    if points > MAX_POINTS:
        raise BadParam("query", "step", f"{points:.0f} points per series is more than {MAX_POINTS}; "
                                        "raise step or narrow the range")
    return TimeRange(start_s, end_s, step_s)
