"""Line protocol parsing: what InfluxDB accepts is accepted, the rest is named by line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.influx.parse import label_name, parse

NOW_NS = 1_700_000_000_123_456_789
TESTDATA = Path(__file__).parent / "testdata"


def one(line: bytes, precision: str = "ns"):
    result = parse(line, precision, NOW_NS)
    assert not result.errors, result.errors
    (parsed,) = result.lines
    return parsed.samples


def error(line: bytes) -> str:
    result = parse(line, "ns", NOW_NS)
    assert not result.lines
    (err,) = result.errors
    return err.reason


def test_every_field_type():
    samples = one(b'm,host=a f=1.5,i=-3i,u=7u,t=true,F=FALSE,s="text",e=1e3 1700000000000000000')
    assert {s["name"]: s["value"] for s in samples} == {"m_f": 1.5, "m_i": -3.0, "m_u": 7.0, "m_t": 1.0, "m_F": 0.0,
                                                        "m_e": 1000.0}
    assert all(s["labels"] == {"host": "a"} and s["timestamp_ms"] == 1_700_000_000_000 for s in samples)


def test_string_fields_are_skipped_and_counted():
    result = parse(b'm s="a",v=1\nm s="b"', "ns", NOW_NS)
    assert [s["name"] for line in result.lines for s in line.samples] == ["m_v"]
    assert result.skipped_string_fields == 2 and not result.errors


def test_escapes_in_measurement_tags_and_fields():
    (s,) = one(b'my\\ meas\\,ure,ta\\=g=va\\ l\\,ue,path=C:\\x fi\\ eld=2 1')
    assert s["name"] == "my_meas_ure_fi_eld"
    assert s["labels"] == {"ta_g": "va l,ue", "path": "C:\\x"}


def test_string_value_with_escaped_quote_and_comma_space():
    result = parse(b'm s="say \\"hi\\", ok",v=3 5', "ns", NOW_NS)
    assert [s["value"] for s in result.lines[0].samples] == [3.0] and result.skipped_string_fields == 1


def test_comments_blank_lines_crlf_and_line_numbers():
    result = parse(b"# header\r\n\r\nm v=1\r\n  \nm v=2\r\n", "ns", NOW_NS)
    assert [(line.number, line.samples[0]["value"]) for line in result.lines] == [(3, 1.0), (5, 2.0)]


def test_missing_timestamp_uses_now():
    (s,) = one(b"m v=1")
    assert s["timestamp_ms"] == NOW_NS // 1_000_000


@pytest.mark.parametrize("precision, stamp, expected_ms", [
    ("ns", b"1700000000123456789", 1_700_000_000_123), ("n", b"1700000000123456789", 1_700_000_000_123),
    ("us", b"1700000000123456", 1_700_000_000_123), ("u", b"1700000000123456", 1_700_000_000_123),
    ("ms", b"1700000000123", 1_700_000_000_123), ("s", b"1700000000", 1_700_000_000_000),
    ("m", b"28333333", 1_699_999_980_000), ("h", b"472222", 1_699_999_200_000),
])
def test_precisions(precision, stamp, expected_ms):
    (s,) = one(b"m v=1 " + stamp, precision)
    assert s["timestamp_ms"] == expected_ms


def test_unknown_precision_is_a_request_error():
    with pytest.raises(ValueError, match="precision 'd' is not one of"):
        parse(b"m v=1", "d", NOW_NS)


def test_names_are_made_prometheus_valid():
    (s,) = one(b"disk-io,dev.name=sda1,0x=1 read.bytes=5")
    assert s["name"] == "disk_io_read_bytes" and s["labels"] == {"dev_name": "sda1", "_0x": "1"}
    (s,) = one(b"9lives v=1")
    assert s["name"] == "_9lives_v"


@pytest.mark.parametrize("line, words", [
    (b"cpu", "missing field set"),
    (b"cpu,host=a", "missing field set"),
    (b"cpu v", "expected key=value"),
    (b"cpu v=", "has no value"),
    (b"cpu =1", "empty field key"),
    (b"cpu,host v=1", "invalid tag"),
    (b"cpu,host= v=1", "has no value"),
    (b"cpu,=a v=1", "empty tag key"),
    (b"cpu,host=a,host=b v=1", "duplicate tag"),
    (b",host=a v=1", "missing measurement"),
    (b"cpu v=abc", "invalid value 'abc'"),
    (b"cpu v=1_000", "invalid value"),
    (b"cpu v=nan", "invalid value"),
    (b"cpu v=1e400", "out of range"),
    (b"cpu v=12x3i", "invalid integer"),
    (b"cpu v=-3u", "invalid unsigned"),
    (b"cpu v=99999999999999999999i", "out of range"),
    (b"cpu v=1 12ab", "invalid timestamp"),
    (b"cpu v=1 1 2", "single spaces"),
    (b'cpu s="open', "unterminated string"),
    (b"cpu\\", "bad escape"),
    (b"cpu,host=a\\", "bad escape"),
])
def test_malformed_lines_say_why(line, words):
    assert words in error(line)


def test_invalid_utf8_names_the_byte():
    assert error(b"cpu,host=\xc3\x28 v=1") == "not valid UTF-8 at byte 10"


def test_over_long_line():
    result = parse(b"m v=1\n" + b"m,t=" + b"x" * 200 + b" v=1", "ns", NOW_NS, max_line_bytes=100)
    assert len(result.lines) == 1 and "the limit is 100" in result.errors[0].reason
    assert result.errors[0].number == 2


def test_type_conflict_within_a_batch_keeps_the_first_type():
    result = parse(b"cpu v=1\ncpu v=2i\nmem v=3i\ncpu v=4", "ns", NOW_NS)
    assert [line.number for line in result.lines] == [1, 3, 4]
    (err,) = result.errors
    assert err.number == 2 and "field type conflict" in err.reason and "float in line 1 but integer here" in err.reason


def test_good_lines_survive_bad_neighbours_and_raw_is_kept():
    body = b"a v=1\nbroken\nb v=2\nc v=\xff\nd v=4"
    result = parse(body, "ns", NOW_NS)
    assert [line.samples[0]["name"] for line in result.lines] == ["a_v", "b_v", "d_v"]
    assert [(e.number, e.raw) for e in result.errors] == [(2, b"broken"), (4, b"c v=\xff")]


def test_empty_body_parses_to_nothing():
    result = parse(b"", "ns", NOW_NS)
    assert result.lines == [] and result.errors == []


def test_hostile_input_is_refused_not_crashed_on():
    body = b"\n".join([b"," * 100_000, b"\\" * 5001, b"m " + b"f=1," * 10_000, b'm s="' + b'\\"' * 5000,
                       b"\x00 \x00=\x00", b"=" * 1000, b" " * 10 + b"m v=1", b"m v=1 " + b"9" * 400])
    result = parse(body, "ns", NOW_NS, max_line_bytes=1_000_000)
    assert len(result.lines) + len(result.errors) == 8
    assert [line.number for line in result.lines] == [7]  # leading whitespace is tolerated


def test_golden_telegraf_body():
    body = (TESTDATA / "telegraf.lp").read_bytes()
    result = parse(body, "ns", NOW_NS)
    assert not result.errors
    names = {s["name"] for line in result.lines for s in line.samples}
    assert {"cpu_usage_user", "cpu_usage_idle", "mem_used_percent", "disk_used", "net_bytes_recv",
            "system_load1"} <= names
    assert result.skipped_string_fields == 1  # system,uptime_format="…"
    disk = next(s for line in result.lines for s in line.samples if s["name"] == "disk_used")
    assert disk["labels"]["path"] == "/var/lib/my data" and disk["value"] == 52_000_000_000.0


def test_arbitrary_bytes_never_raise():
    import random

    rng = random.Random(1)
    alphabet = b' ,="\\\n\r=tfiu0123456789.eE-+abc\xff\x00#'
    for _ in range(2000):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        result = parse(body, "ns", NOW_NS)
        numbers = [line.number for line in result.lines] + [e.number for e in result.errors]
        assert len(numbers) == len(set(numbers))


# Property-based: the parser never raises on bad input, and every line is either parsed or named.
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.text(st.sampled_from("abcxyz_09.-"), min_size=1, max_size=12)
_tag_values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_are_parsed_or_named_line_by_line(body):
    result = parse(body, "ns", NOW_NS)
    numbers = [line.number for line in result.lines] + [err.number for err in result.errors]
    assert len(numbers) == len(set(numbers))
    assert all(1 <= n <= body.count(b"\n") + 1 for n in numbers)


def _escape(text: str, specials: str) -> str:
    for char in "\\" + specials:
        text = text.replace(char, "\\" + char)
    return text


@settings(max_examples=300, deadline=None)
@given(_names, st.dictionaries(_names, _tag_values, max_size=5), st.floats(allow_nan=False, allow_infinity=False),
       st.integers(min_value=0, max_value=2**62))
def test_valid_lines_round_trip(measurement, tags, value, stamp):
    if len({label_name(k) for k in tags}) < len(tags):  # tags that collide once made label names
        assert "both become label" in error(f"m,{','.join(f'{k}=v' for k in tags)} f=1".encode())
        return
    tag_text = "".join(f",{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in sorted(tags.items()))
    line = f"{_escape(measurement, ', ')}{tag_text} value={value!r} {stamp}".encode()
    (sample,) = one(line)
    assert sample["value"] == value and sample["timestamp_ms"] == stamp // 1_000_000
    assert sorted(sample["labels"].values()) == sorted(tags.values())


def test_a_body_of_bad_lines_keeps_the_first_errors_counts_all_and_keeps_the_good_lines():
    # Issue 15: a 1 MiB body of `x\n` made ~500k LineErrors (and as many answer entries and
    # dead-letter records); the parser keeps the first few and counts the rest.
    body = b"m v=1\n" + b"x\n" * 524_288 + b"m v=2"
    result = parse(body, "ns", 0, max_errors=100)
    assert [line.number for line in result.lines] == [1, 524_290]
    assert result.error_count == 524_288 and len(result.errors) == 100
    assert [e.number for e in result.errors] == list(range(2, 102))
    assert "missing field set" in result.errors[0].reason and result.errors[0].raw == b"x"
    assert result.last_error_line == 524_289
