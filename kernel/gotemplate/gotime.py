"""Go's time.Time as templates see it: what `toTime` returns, printed and formatted as Go does.

Prometheus' `toTime` returns a *time.Time in UTC; a template prints it (`2006-01-02 15:04:05.999999999
-0700 MST`) or calls its methods (`.Unix`, `.Format "2006-01-02"`, ...). See https://pkg.go.dev/time .
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .functions import STRING, Func

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LAYOUT_TOKEN = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00:00|Z07:00|Z0700|Z07|-07:00:00|-07:00|-0700|-07"
    r"|[.,](?:0+|9+)(?!\d)|002|_2|01|02|03|04|05|06|15|PM|pm|1|2|3|4|5")


class GoTime:
    """A UTC instant with nanosecond precision; `go_methods` are what a template may call on it."""

    go_type = "*time.Time"
    go_kind = "ptr"
    go_indirect = True

    __slots__ = ("ns",)

    def __init__(self, ns: int) -> None:
        self.ns = ns

    @property
    def _dt(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.ns // 1000)

    def go_string(self) -> str:
        """Go's Time.String()."""
        return self.format("2006-01-02 15:04:05.999999999 -0700 MST")

    def __str__(self) -> str:
        return self.go_string()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.ns == self.ns

    def __hash__(self) -> int:
        return hash(self.ns)

    def format(self, layout: str) -> str:
        """Go's Time.Format with a Go reference-time layout."""
        dt, nanos = self._dt, self.ns % 1_000_000_000
        return _LAYOUT_TOKEN.sub(lambda m: _render(m.group(0), dt, nanos), layout)

    @property
    def go_methods(self) -> dict[str, Func]:
        """The methods of time.Time a template can call."""
        dt = self._dt
        return {
            "Unix": Func(lambda: self.ns // 1_000_000_000),
            "UnixMilli": Func(lambda: self.ns // 1_000_000),
            "UnixMicro": Func(lambda: self.ns // 1_000),
            "UnixNano": Func(lambda: self.ns),
            "UTC": Func(lambda: self),
            "Local": Func(lambda: self),
            "String": Func(self.go_string),
            "Format": Func(self.format, (STRING,)),
            "Year": Func(lambda: dt.year),
            "Month": Func(lambda: _Named(dt.month, dt.strftime("%B"), "time.Month")),
            "Day": Func(lambda: dt.day),
            "Hour": Func(lambda: dt.hour),
            "Minute": Func(lambda: dt.minute),
            "Second": Func(lambda: dt.second),
            "Nanosecond": Func(lambda: self.ns % 1_000_000_000),
            "YearDay": Func(lambda: dt.timetuple().tm_yday),
            "Weekday": Func(lambda: _Named((dt.weekday() + 1) % 7, dt.strftime("%A"), "time.Weekday")),
            "IsZero": Func(lambda: False),
        }


class _Named(int):
    """An integer Go type with a String method (time.Month, time.Weekday)."""

    name: str
    go_type: str

    def __new__(cls, value: int, name: str, go_type: str) -> _Named:
        self = super().__new__(cls, value)
        self.name, self.go_type = name, go_type
        return self

    go_kind = "struct"

    def go_string(self) -> str:
        return self.name


def _render(token: str, dt: datetime, nanos: int) -> str:
    simple: dict[str, Any] = {
        "2006": f"{dt.year:04d}", "06": f"{dt.year % 100:02d}", "January": dt.strftime("%B"),
        "Jan": dt.strftime("%b"), "01": f"{dt.month:02d}", "1": str(dt.month), "Monday": dt.strftime("%A"),
        "Mon": dt.strftime("%a"), "02": f"{dt.day:02d}", "_2": f"{dt.day:2d}", "2": str(dt.day),
        "002": f"{dt.timetuple().tm_yday:03d}", "15": f"{dt.hour:02d}", "3": str(dt.hour % 12 or 12),
        "03": f"{dt.hour % 12 or 12:02d}", "4": str(dt.minute), "04": f"{dt.minute:02d}", "5": str(dt.second),
        "05": f"{dt.second:02d}", "PM": "PM" if dt.hour >= 12 else "AM", "pm": "pm" if dt.hour >= 12 else "am",
        "MST": "UTC", "-07:00:00": "+00:00:00", "-07:00": "+00:00", "-0700": "+0000", "-07": "+00",
    }
    if token in simple:
        return simple[token]
    if token.startswith("Z"):
        return "Z"
    digits = f"{nanos:09d}"[:len(token) - 1]
    if token[1] == "9":
        digits = digits.rstrip("0")
        return token[0] + digits if digits else ""
    return token[0] + digits
