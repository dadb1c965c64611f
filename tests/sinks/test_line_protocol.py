"""Line protocol built by the TSDB sink: escaping, dropped empty labels, float formatting (no servers)."""

from __future__ import annotations

import math

from sinks.tsdb import LineEncoder, series_prefix


def sample(value: float, labels: dict[str, str] | None = None, name: str = "cpu_usage",
           ts: int = 1_700_000_000_123):
    """A Sample of one series."""
    return {"series_id": 1, "name": name, "labels": labels or {}, "value": value, "timestamp_ms": ts}


def line(value: float, labels: dict[str, str] | None = None, name: str = "cpu_usage") -> str:
    """The one line written for one sample."""
    [only] = LineEncoder().lines([sample(value, labels, name)])
    return only


def test_a_plain_sample_is_name_tags_value_field_and_ms_timestamp():
    assert line(0.5, {"host": "web1", "dc": "eu"}) == "cpu_usage,host=web1,dc=eu value=0.5 1700000000123"


def test_tag_keys_and_values_escape_comma_equals_space_and_backslash():
    assert series_prefix("m", {"a b": "x,y=z w"}) == r"m,a\ b=x\,y\=z\ w"
    # A value ending in a backslash must not escape the space after it.
    assert series_prefix("m", {"path": "C:\\"}) == "m,path=C:\\\\"


def test_measurement_escapes_comma_and_space_but_not_equals():
    assert series_prefix("a b,c=d", {}) == r"a\ b\,c=d"


def test_a_newline_in_a_label_cannot_split_the_line():
    assert "\n" not in line(1.0, {"msg": "two\nlines"})


def test_labels_with_an_empty_value_or_key_are_left_out():
    assert line(1.0, {"a": "", "b": "1", "": "x"}) == "cpu_usage,b=1 value=1.0 1700000000123"


def test_values_are_always_written_as_floats_that_round_trip():
    for value, text in [(3, "3.0"), (True, "1.0"), (1e20, "1e+20"), (2.5e-7, "2.5e-07"), (-0.0, "-0.0"),
                        (1 / 3, "0.3333333333333333"), (1.7976931348623157e308, "1.7976931348623157e+308"),
                        (5e-324, "5e-324"), (math.inf, "inf"), (-math.inf, "-inf")]:
        written = line(value).split(" ")[1]
        assert written == f"value={text}", value
        assert float(written.removeprefix("value=")) == float(value)


def test_nan_samples_are_left_out_and_the_rest_kept():
    lines = LineEncoder().lines([sample(math.nan), sample(2.0)])
    assert lines == ["cpu_usage value=2.0 1700000000123"]


def test_many_samples_of_many_series_each_get_their_own_labels_beyond_the_cache_size():
    encoder = LineEncoder(cache_size=3)
    samples = [sample(float(i), {"i": str(i % 5)}, ts=i) for i in range(20)]
    assert encoder.lines(samples) == [f"cpu_usage,i={i % 5} value={float(i)!r} {i}" for i in range(20)]
