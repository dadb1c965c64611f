"""Time intervals as Alertmanager reads them: weekday ranges, wall-clock times in a zone (also on DST days),
days counted from the end of the month, 24:00."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from kernel.alerting.time_intervals import TimeInterval, TimeIntervalSet, active


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def interval(**fields) -> TimeIntervalSet:
    return TimeIntervalSet(name="t", time_intervals=[TimeInterval.model_validate(fields)])


def test_weekday_range_is_inclusive_and_read_in_utc_by_default():
    weekdays = interval(weekdays=["monday:friday"])
    assert active(weekdays, ms("2026-11-27T23:59:59Z"))  # Friday
    assert not active(weekdays, ms("2026-11-28T00:00:00Z"))  # Saturday
    assert not active(weekdays, ms("2026-11-29T12:00:00Z"))  # Sunday
    assert active(weekdays, ms("2026-11-30T00:00:00Z"))  # Monday
    weekend = interval(weekdays=["Saturday", "sunday"])  # names are case-insensitive, as in Alertmanager
    assert active(weekend, ms("2026-11-29T12:00:00Z")) and not active(weekend, ms("2026-11-27T12:00:00Z"))


def test_times_are_wall_clock_minutes_in_the_location():
    office = interval(weekdays=["monday:friday"], times=[{"start_time": "09:00", "end_time": "17:00"}],
                      location="Europe/Berlin")
    assert not active(office, ms("2026-11-25T07:59:00Z"))  # 08:59 CET
    assert active(office, ms("2026-11-25T08:00:00Z"))  # 09:00 CET
    assert active(office, ms("2026-11-25T15:59:59Z"))  # 16:59:59 CET
    assert not active(office, ms("2026-11-25T16:00:00Z"))  # 17:00 CET: the end is exclusive
    assert not active(office, ms("2026-11-27T23:30:00Z"))  # Saturday 00:30 in Berlin, still Friday in UTC
    # Summer time: the same 09:00 local is an hour earlier in UTC.
    assert active(office, ms("2026-07-01T07:00:00Z")) and not active(office, ms("2026-07-01T06:59:00Z"))


def test_the_day_clocks_go_forward():
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST; the day has 23 hours.
    night = interval(times=[{"start_time": "02:00", "end_time": "03:00"}], location="Europe/Berlin")
    for minute in range(0, 24 * 60, 15):  # the skipped local hour never happens, so the interval never holds
        assert not active(night, ms("2026-03-29T00:00:00Z") + minute * 60_000)
    morning = interval(times=[{"start_time": "00:00", "end_time": "09:00"}], location="Europe/Berlin")
    assert active(morning, ms("2026-03-29T00:59:00Z"))  # 01:59 CET
    assert active(morning, ms("2026-03-29T06:59:00Z"))  # 08:59 CEST: only 8 real hours after midnight
    assert not active(morning, ms("2026-03-29T07:00:00Z"))  # 09:00 CEST


def test_24_00_ends_the_day():
    evening = interval(times=[{"start_time": "17:00", "end_time": "24:00"}])
    assert active(evening, ms("2026-11-25T23:59:59Z"))
    assert not active(evening, ms("2026-11-26T00:00:00Z"))
    whole_day = interval(times=[{"start_time": "00:00", "end_time": "24:00"}], weekdays=["wednesday"])
    assert active(whole_day, ms("2026-11-25T00:00:00Z")) and active(whole_day, ms("2026-11-25T23:59:59Z"))
    assert not active(whole_day, ms("2026-11-26T00:00:00Z"))


def test_negative_days_count_from_the_end_of_the_month():
    last_day = interval(days_of_month=["-1"])
    assert active(last_day, ms("2026-02-28T12:00:00Z"))
    assert not active(last_day, ms("2028-02-28T12:00:00Z"))  # a leap year: the 29th is the last day
    assert active(last_day, ms("2028-02-29T12:00:00Z"))
    assert active(last_day, ms("2026-11-30T12:00:00Z")) and not active(last_day, ms("2026-11-29T12:00:00Z"))
    last_week = interval(days_of_month=["-7:-1"])
    assert active(last_week, ms("2026-11-24T00:00:00Z")) and not active(last_week, ms("2026-11-23T23:59:59Z"))
    first_and_last = interval(days_of_month=["1:5", -1])
    assert active(first_and_last, ms("2026-11-03T00:00:00Z")) and not active(first_and_last, ms("2026-11-06T00:00:00Z"))


def test_days_beyond_the_month_are_clamped_or_skipped():
    month_end = interval(days_of_month=["25:31"])
    assert active(month_end, ms("2026-02-28T00:00:00Z"))  # the end is clamped to February's 28th
    assert not active(month_end, ms("2026-03-01T00:00:00Z"))
    late = interval(days_of_month=["30:31"])
    assert not any(active(late, ms(f"2026-02-{d:02}T12:00:00Z")) for d in range(1, 29))  # never in February


def test_months_and_years():
    winter = interval(months=["december", "january:february", 3])
    assert active(winter, ms("2026-12-15T00:00:00Z")) and active(winter, ms("2027-03-31T23:00:00Z"))
    assert not active(winter, ms("2026-11-30T23:59:59Z"))
    years = interval(years=["2026:2027"])
    assert active(years, ms("2027-12-31T23:59:59Z")) and not active(years, ms("2028-01-01T00:00:00Z"))


def test_every_field_must_hold_and_any_entry_may():
    both = interval(weekdays=["saturday"], days_of_month=["1:7"])  # the first Saturday of the month
    assert active(both, ms("2026-11-07T10:00:00Z")) and not active(both, ms("2026-11-14T10:00:00Z"))
    either = TimeIntervalSet(name="t", time_intervals=[{"weekdays": ["saturday"]}, {"days_of_month": ["1"]}])
    assert active(either, ms("2026-11-14T10:00:00Z")) and active(either, ms("2026-12-01T10:00:00Z"))
    assert active(interval(), ms("2026-11-25T10:00:00Z"))  # an entry without fields holds always


@pytest.mark.parametrize("fields, expected", [
    ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, "end_time must be after start_time"),
    ({"times": [{"start_time": "09:00", "end_time": "09:00"}]}, "end_time must be after start_time"),
    ({"times": [{"start_time": "9:00", "end_time": "17:00"}]}, "'9:00' is not a time like '09:00'"),
    ({"times": [{"start_time": "00:00", "end_time": "24:30"}]}, "'24:30' is not a time"),
    ({"times": [{"start_time": "00:00"}]}, "end_time"),
    ({"weekdays": ["saturday:sunday"]}, "list the days separately"),
    ({"weekdays": ["funday"]}, "'funday' is not a weekday"),
    ({"days_of_month": ["0"]}, "0 is not a day of the month"),
    ({"days_of_month": ["32"]}, "32 is not a day of the month"),
    ({"days_of_month": ["-1:5"]}, "the end day must be negative"),
    ({"days_of_month": ["10:-25"]}, "always before the start day"),
    ({"months": ["december:january"]}, "january comes before december"),
    ({"months": ["13"]}, "'13' is not a month"),
    ({"years": ["2027:2026"]}, "start before end"),
    ({"location": "Mars/Olympus"}, "'Mars/Olympus' is not a time zone"),
    ({"hours": ["9:17"]}, "Extra inputs"),
])
def test_invalid_intervals_say_what_was_expected(fields, expected):
    with pytest.raises(ValidationError) as err:
        TimeInterval.model_validate(fields)
    assert expected in str(err.value)
