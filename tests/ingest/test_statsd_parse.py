"""StatsD/DogStatsD parsing: every type and extension, each bad input named by line and field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.statsd.config import StatsdConfig
from ingest.statsd.parse import RAW_BYTES, Metric, format_metric, parse


def one(line: bytes, config: StatsdConfig = StatsdConfig()) -> Metric:
    result = parse(line, config)
    assert not result.errors, result.errors
    (metric,) = result.metrics
    return metric


def error(line: bytes, config: StatsdConfig = StatsdConfig()) -> str:
    result = parse(line, config)
    assert not result.metrics, result.metrics
    (err,) = result.errors
    assert err.number == 1 and err.raw == line[:RAW_BYTES]
    return err.reason


@pytest.mark.parametrize("line, kind, value", [
    (b"hits:1|c", "c", 1.0), (b"hits:-2.5|c", "c", -2.5), (b"temp:21.5|g", "g", 21.5),
    (b"rt:320|ms", "ms", 320.0), (b"size:1e3|h", "h", 1000.0), (b"users:alice|s", "s", "alice"),
    (b"lat:0.25|d", "d", 0.25),
])
def test_every_type(line, kind, value):
    assert one(line) == Metric(line.split(b":")[0].decode(), kind, value, 1.0, (), False)


def test_gauge_deltas_and_sets():
    assert one(b"g:5|g").delta is False
    plus, minus = one(b"g:+5|g"), one(b"g:-5|g")
    assert (plus.value, plus.delta) == (5.0, True) and (minus.value, minus.delta) == (-5.0, True)
    assert one(b"c:-5|c").delta is False  # only gauges have deltas


def test_set_value_is_any_string_colons_included():
    assert one(b"visitors:a:b c|s|#env:prod").value == "a:b c"


def test_sample_rate():
    assert one(b"x:1|c|@0.1").sample_rate == 0.1
    assert one(b"x:1|ms|@1").sample_rate == 1.0


def test_dogstatsd_tags_order_and_values_with_colons():
    metric = one(b"api.requests:1|c|@0.5|#env:prod,url:http://x:80/,canary")
    assert metric.tags == (("env", "prod"), ("url", "http://x:80/"), ("canary", "true"))
    assert metric.sample_rate == 0.5


def test_tags_before_the_rate_and_empty_tag_entries():
    metric = one(b"x:1|c|#a:1,,b:2,|@0.5")
    assert metric.tags == (("a", "1"), ("b", "2")) and metric.sample_rate == 0.5


def test_dogstatsd_extensions_are_ignored():
    metric = one(b"x:1|d|#env:prod|c:83c0a99c0a54c0c187f461c7980e9b57f3f6a8b0c918c8d93df19a9de6f3fe1d|T1656581400"
                 b"|e:it-false,cn-nginx|card:low")
    assert metric == Metric("x", "d", 1.0, 1.0, (("env", "prod"),), False)


def test_dogstatsd_packed_values():
    result = parse(b"lat:1:2:3|d|@0.5|#a:b")
    assert [m.value for m in result.metrics] == [1.0, 2.0, 3.0]
    assert all(m.sample_rate == 0.5 and m.tags == (("a", "b"),) for m in result.metrics)
    assert [m.delta for m in parse(b"g:+1:2:-3|g").metrics] == [True, False, True]


def test_etsy_multi_metric_form():
    result = parse(b"gorets:1|c:250|ms|@0.5:-3|g")
    assert [(m.kind, m.value, m.sample_rate, m.delta) for m in result.metrics] == [
        ("c", 1.0, 1.0, False), ("ms", 250.0, 0.5, False), ("g", -3.0, 1.0, True)]
    assert {m.name for m in result.metrics} == {"gorets"} and not result.errors


def test_etsy_multi_metric_form_refuses_tags_and_is_all_or_nothing():
    result = parse(b"x:1|c:2|c|#env:prod")
    assert not result.metrics and "not allowed in the multi-metric form" in result.errors[0].reason
    result = parse(b"x:1|c:oops|c")
    assert not result.metrics and "invalid value 'oops' of counter 'x'" in result.errors[0].reason


def test_several_lines_one_bad_in_the_middle():
    result = parse(b"a:1|c\nb:x|c\nc:2|g\n")
    assert [m.name for m in result.metrics] == ["a", "c"]
    (err,) = result.errors
    assert err.number == 2 and err.raw == b"b:x|c"
    assert err.reason == "invalid value 'x' of counter 'b': expected a finite number"


def test_empty_payload_blank_lines_trailing_newline_and_crlf():
    assert parse(b"") == parse(b"\n\n") == parse(b"  \r\n")
    assert not parse(b"").metrics and not parse(b"").errors
    result = parse(b"a:1|c\r\n\r\nb:2|c\n")
    assert [m.name for m in result.metrics] == ["a", "b"] and not result.errors


@pytest.mark.parametrize("line, reason", [
    (b":1|c", "empty metric name"),
    (b"name", "missing ':' after the name 'name'"),
    (b"name:1", "missing '|' between the value and the type of 'name'"),
    (b"name:1|x", "unknown type 'x' of 'name': expected one of c, g, ms, h, s, d"),
    (b"name:1|", "unknown type '' of 'name'"),
    (b"name:|c", "empty value of counter 'name'"),
    (b"name:|s", "empty value of set 'name'"),
    (b"name:abc|ms", "invalid value 'abc' of timer 'name': expected a finite number"),
    (b"name:nan|g", "invalid value 'nan' of gauge 'name': expected a finite number"),
    (b"name:inf|h", "invalid value 'inf' of histogram 'name'"),
    (b"name:1_000|d", "invalid value '1_000' of distribution 'name'"),
    (b"name:1e999|c", "value '1e999' of counter 'name' is not a finite number"),
    (b"name:1-2|c", "invalid value '1-2' of counter 'name'"),
    (b"name:1:x|d", "invalid value 'x' of distribution 'name'"),
    (b"name:1|c|@0", "sample rate '@0' of 'name' is not in (0, 1]"),
    (b"name:1|c|@1.5", "sample rate '@1.5' of 'name' is not in (0, 1]"),
    (b"name:1|c|@-0.5", "sample rate '@-0.5' of 'name' is not in (0, 1]"),
    (b"name:1|c|@", "invalid sample rate '@' of 'name'"),
    (b"name:1|c|@half", "invalid sample rate '@half' of 'name'"),
    (b"name:1|c|#:v", "tag ':v' has an empty key"),
    (b"name:1|c|zz", "unknown field 'zz' of 'name': expected @rate or #tags"),
    (b"name:1|c||#a", "empty field after the type of 'name'"),
])
def test_bad_lines_are_named(line, reason):
    assert reason in error(line)


def test_too_many_tags():
    tags = ",".join(f"t{i}" for i in range(10_000)).encode()  # ~60 kB: still fits in a datagram
    assert error(b"wide:1|c|#" + tags) == "too many tags on 'wide': 10000, the limit is 64"
    metric = one(b"wide:1|c|#" + tags, StatsdConfig(max_tags=10_000))
    assert len(metric.tags) == 10_000 and metric.tags[-1] == ("t9999", "true")
    assert "too many tags on 'x': 3, the limit is 2" in error(b"x:1|c|#a,b,c", StatsdConfig(max_tags=2))


def test_invalid_utf8_is_reported_and_the_rest_kept():
    result = parse(b"a:1|c\nb\xff\xfe:1|c\nbad\nc:2|c")
    assert [m.name for m in result.metrics] == ["a", "c"]
    assert [(e.number, e.raw) for e in result.errors] == [(2, b"b\xff\xfe:1|c"), (3, b"bad")]
    assert result.errors[0].reason == "not valid UTF-8 at byte 2"


def test_non_ascii_names_and_tag_values_are_kept():
    metric = one("café.hits:1|c|#ville:Zürich".encode())
    assert metric.name == "café.hits" and metric.tags == (("ville", "Zürich"),)


def test_raw_bytes_of_an_error_are_truncated():
    line = b"x:" + b"9" * 5000 + b"|q"
    (err,) = parse(line).errors
    assert err.raw == line[:RAW_BYTES] and len(err.raw) == 1024


def test_line_longer_than_a_datagram_is_refused():
    config = StatsdConfig(max_datagram_bytes=100)
    long_line = b"x:1|c|#" + b"a" * 200
    result = parse(b"ok:1|c\n" + long_line, config)
    assert [m.name for m in result.metrics] == ["ok"]
    assert [(e.number, e.reason) for e in result.errors] == [(2, "line is 207 bytes; the limit is 100")]


def test_service_checks_and_events_are_skipped_and_counted():
    result = parse(b"_sc|Redis connection|2|#env:dev|m:Redis timed out\n"
                   b"_e{5,4}:title|text|#shell\n"
                   b"real:1|c")
    assert [m.name for m in result.metrics] == ["real"]
    assert result.skipped_non_metrics == 2 and not result.errors


def test_format_metric_is_the_inverse():
    metric = Metric("a.b", "g", -1.5, 0.25, (("env", "prod"), ("canary", "true")), True)
    assert format_metric(metric) == "a.b:-1.5|g|@0.25|#env:prod,canary:true"
    assert format_metric(Metric("a", "g", 2.0, 1.0, (), True)) == "a:+2.0|g"
    assert one(format_metric(metric).encode()) == metric


# --- properties ---------------------------------------------------------------------------------------

@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_parse_never_raises_on_arbitrary_bytes(payload):
    result = parse(payload)
    assert all(e.number >= 1 and len(e.raw) <= RAW_BYTES for e in result.errors)


_STATSD_ALPHABET = "abcxyzABC019._-/ \n|:@#,\r+eE\xff"


@settings(max_examples=500)
@given(st.text(alphabet=_STATSD_ALPHABET, max_size=120))
def test_parse_never_raises_on_statsd_like_text(text):
    result = parse(text.encode())
    lines = text.encode().split(b"\n")
    for err in result.errors:
        assert err.raw == lines[err.number - 1][:RAW_BYTES] and err.reason


_name = st.text(alphabet=st.characters(blacklist_characters=":|#@,\n\r", blacklist_categories=("Cs", "Zs", "Cc")),
                min_size=1, max_size=30).filter(lambda s: s == s.strip() and not s.startswith(("_sc|", "_e{")))
_tag_text = st.text(alphabet=st.characters(blacklist_characters=":|,\n\r", blacklist_categories=("Cs", "Cc")),
                    min_size=1, max_size=15)
_tag_value = st.text(alphabet=st.characters(blacklist_characters="|,\n\r", blacklist_categories=("Cs", "Cc")),
                     max_size=15)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_rate = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
_tags = st.lists(st.tuples(_tag_text, _tag_value), max_size=5).map(tuple)


@st.composite
def _metrics(draw) -> Metric:
    kind = draw(st.sampled_from(["c", "g", "ms", "h", "s", "d"]))
    delta = False
    if kind == "s":
        value = draw(st.text(alphabet=st.characters(blacklist_characters="|\n\r", blacklist_categories=("Cs",)),
                             min_size=1, max_size=20).filter(lambda s: s == s.strip()))
    elif kind == "g":
        delta = draw(st.booleans())
        # a plain gauge can't be set below zero in one line: '-5' means "subtract 5" (statsd's rule)
        value = draw(_finite if delta else st.floats(min_value=0.0, allow_infinity=False))
        if not delta:
            value = abs(value)  # -0.0 would be written '-0.0', a delta
    else:
        value = draw(_finite)
    rate = draw(st.one_of(st.just(1.0), _rate))
    tags = draw(_tags)
    last_value = tags[-1][1] if tags else None
    if last_value is not None and last_value != last_value.strip():
        tags = tags[:-1] + ((tags[-1][0], last_value.strip() or "v"),)  # the line is stripped at its end
    return Metric(draw(_name), kind, value, rate, tags, delta)


@settings(max_examples=500)
@given(st.lists(_metrics(), min_size=1, max_size=10))
def test_valid_lines_round_trip(metrics):
    payload = "\n".join(format_metric(m) for m in metrics).encode()
    result = parse(payload, StatsdConfig(max_tags=10))
    assert not result.errors, result.errors
    assert result.metrics == metrics
    assert all(isinstance(m.value, str) or math.isfinite(m.value) for m in result.metrics)
