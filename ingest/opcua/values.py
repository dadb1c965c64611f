"""An OPC-UA DataValue → a sample's value and timestamp."""

from __future__ import annotations

from datetime import datetime, timezone
from numbers import Real

from asyncua import ua


def number(value: object) -> float | None:
    """Numbers and booleans as a float (NaN included); None for anything else (strings, arrays, structures)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, Real):  # every OPC-UA integer and float type (and enumerations, which are ints)
        return float(value)
    return None


def timestamp_ms(data: ua.DataValue, now_ms: int) -> int:
    """The source's timestamp, else the server's, else now (OPC UA Part 4 §7.11 DataValue)."""
    stamp = data.SourceTimestamp or data.ServerTimestamp
    if not isinstance(stamp, datetime):
        return now_ms
    if stamp.tzinfo is None:  # asyncua decodes UtcTime as naive or aware datetimes depending on the version
        stamp = stamp.replace(tzinfo=timezone.utc)
    ms = int(stamp.timestamp() * 1000)
    return ms if ms > 0 else now_ms  # 1601-01-01, the "no timestamp" encoding, is not a time


def describe(value: object) -> str:
    """A short description of a value that isn't a number, for problems."""
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'…' if len(text) > 80 else ''}"
