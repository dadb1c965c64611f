"""Named time intervals (maintenance windows, business hours): Alertmanager's `time_intervals` section.

A route's `mute_time_intervals` silence it while one of them is active; its `active_time_intervals`
silence it while none is. Semantics follow Alertmanager's timeinterval package:
https://prometheus.io/docs/alerting/latest/configuration/#time_interval
Every field of one entry must hold (an absent field holds always); times are wall-clock minutes in
`location`, so 09:00–17:00 Europe/Berlin stays 09:00–17:00 local on the days clocks change.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Sunday = 0, as Go
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_HHMM = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))$")


def _minute_of_day(value: object) -> int:
    """'HH:MM' (00:00 … 24:00) → minutes since midnight."""
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time like '09:00' (HH:MM, 00:00 to 24:00; quote it in YAML)")
    hours, minutes = (g for g in match.groups() if g is not None)
    return int(hours) * 60 + int(minutes)


def _bounds(value: object, member, what: str) -> tuple[int, int]:
    """'a:b' or 'a' (names or numbers, case-insensitive) → (begin, end), both inclusive."""
    if isinstance(value, tuple):
        return value  # already parsed (a model built in code)
    text = str(value).strip().lower() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    parts = text.split(":") if text else []
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"{value!r} is not a {what} or a range of them like 'a:b'")
    begin, end = (member(p.strip()) for p in (parts * 2)[:2])
    return begin, end


def _weekday(text: str) -> int:
    if text not in WEEKDAYS:
        raise ValueError(f"'{text}' is not a weekday (monday … sunday)")
    return WEEKDAYS.index(text)


def _month(text: str) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    raise ValueError(f"'{text}' is not a month (january … december, or 1 … 12)")


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None


def _weekday_range(value: object) -> tuple[int, int]:
    begin, end = _bounds(value, _weekday, "weekday")
    if begin > end:  # Alertmanager refuses wrapping ranges too: the week starts on Sunday
        raise ValueError(f"'{value}': {WEEKDAYS[end]} comes before {WEEKDAYS[begin]} (weeks start on sunday); "
                         "list the days separately, e.g. ['saturday', 'sunday']")
    return begin, end


def _day_of_month_range(value: object) -> tuple[int, int]:
    begin, end = _bounds(value, _number, "day of the month")
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a day of the month (1 … 31, or -1 … -31 counting from the end)")
    if begin < 0 < end:
        raise ValueError(f"'{value}': the end day must be negative when the start day is")
    # As Alertmanager: catch ranges that are empty in every month (negative days counted in a 28-day month).
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"'{value}': the end day is always before the start day")
    return begin, end


def _month_range(value: object) -> tuple[int, int]:
    begin, end = _bounds(value, _month, "month")
    if begin > end:
        raise ValueError(f"'{value}': {MONTHS[end - 1]} comes before {MONTHS[begin - 1]}; list both ranges "
                         "separately, e.g. ['november:december', 'january:february']")
    return begin, end


def _year_range(value: object) -> tuple[int, int]:
    begin, end = _bounds(value, _number, "year")
    if begin < 1 or begin > end:
        raise ValueError(f"'{value}': expected a year or a range like '2026:2027' (start before end)")
    return begin, end


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a time zone: expected an IANA name such as Europe/Berlin or UTC") from None
    return name


Minute = Annotated[int, BeforeValidator(_minute_of_day)]
WeekdayRange = Annotated[tuple[int, int], BeforeValidator(_weekday_range)]
DayOfMonthRange = Annotated[tuple[int, int], BeforeValidator(_day_of_month_range)]
MonthRange = Annotated[tuple[int, int], BeforeValidator(_month_range)]
YearRange = Annotated[tuple[int, int], BeforeValidator(_year_range)]


class TimeRange(BaseModel):
    """Minutes of the day [start_time, end_time): '17:00'–'24:00' is the rest of the day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_time: Minute
    end_time: Minute

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time (a range over midnight is two ranges: "
                             "'22:00'–'24:00' and '00:00'–'06:00')")
        return self


class TimeInterval(BaseModel):
    """One entry of a named interval: holds when every field it sets holds (all are inclusive ranges)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    times: tuple[TimeRange, ...] = ()
    weekdays: tuple[WeekdayRange, ...] = ()
    days_of_month: tuple[DayOfMonthRange, ...] = ()
    months: tuple[MonthRange, ...] = ()
    years: tuple[YearRange, ...] = ()
    location: Annotated[str, AfterValidator(_zone)] = "UTC"

    def contains(self, at_ms: int) -> bool:
        """True when the instant falls inside this entry, read on the wall clock of `location`."""
        # An empty list counts as absent, where Alertmanager would read `weekdays: []` as "never".
        t = datetime.fromtimestamp(at_ms / 1000, tz=ZoneInfo(self.location))
        minute = t.hour * 60 + t.minute
        if self.times and not any(r.start_time <= minute < r.end_time for r in self.times):
            return False
        if self.days_of_month and not any(_day_in(t, r) for r in self.days_of_month):
            return False
        if self.months and not any(b <= t.month <= e for b, e in self.months):
            return False
        weekday = t.isoweekday() % 7
        if self.weekdays and not any(b <= weekday <= e for b, e in self.weekdays):
            return False
        return not self.years or any(b <= t.year <= e for b, e in self.years)


def _day_in(t: datetime, days: tuple[int, int]) -> bool:
    # Alertmanager: negative days count from the month's end (-1 = last day); a range starting after the
    # month's last day holds nowhere in it, an end beyond it is clamped to it.
    length = calendar.monthrange(t.year, t.month)[1]
    begin, end = (length + d + 1 if d < 0 else d for d in days)
    if begin > length:
        return False
    return max(begin, 1) <= t.day <= min(end, length)


class TimeIntervalSet(BaseModel):
    """A named interval: active when any of its entries contains the instant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    time_intervals: tuple[TimeInterval, ...] = ()


def active(intervals: TimeIntervalSet, at_ms: int) -> bool:
    """True when any of the set's time_intervals contains `at_ms` (epoch milliseconds)."""
    return any(entry.contains(at_ms) for entry in intervals.time_intervals)
