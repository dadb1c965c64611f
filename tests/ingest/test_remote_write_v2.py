"""Remote write 2.0: the symbol-table decoding (pure, golden and hostile input, a property test), and
`POST /api/v1/write` with `proto=io.prometheus.write.v2.Request` against a real `vigil ingest`.

No real 2.0 sender is available here (Debian's Prometheus 2.42 speaks 1.0 only), so the requests are
built with the spec's own message (ingest/remote_write/prompb/write_v2.proto).
"""

from __future__ import annotations

import math
import struct
import time

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.remote_write.config import (EXEMPLARS_WRITTEN, HISTOGRAMS_WRITTEN, SAMPLES_WRITTEN, STALE_NAN_BITS)
from ingest.remote_write.parse import PayloadError, decompress
from ingest.remote_write.parse_v2 import parse, symbol_label_sets
from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from ingest.remote_write.prompb.write_v2_pb2 import Metadata, Request
from schemas import codec
from tests.ingest.test_influx_http import samples_in_kafka
from infra.topic_reader import TopicReader

STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
V2_HEADERS = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}


def request(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> Request:
    """A 2.0 Request the way a sender interns it: one symbols table, labels as index pairs."""
    req = Request(symbols=[""])
    index: dict[str, int] = {"": 0}

    def ref(text: str) -> int:
        if text not in index:
            index[text] = len(req.symbols)
            req.symbols.append(text)
        return index[text]
    for labels, points in series:
        ts = req.timeseries.add()
        for name in sorted(labels):
            ts.labels_refs.extend([ref(name), ref(labels[name])])
        for value, stamp in points:
            ts.samples.add(value=value, timestamp=stamp)
    return req


def snappy(req) -> bytes:
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


# --- decoding, pure ---------------------------------------------------------------------------

def test_golden_request_becomes_samples_with_shared_labels():
    req = request(({"__name__": "http_requests_total", "job": "api", "code": "200"}, [(10.0, 1000), (12.0, 2000)]),
                  ({"__name__": "up", "job": "api"}, [(1.0, 1000)]))
    assert list(req.symbols) == ["", "__name__", "http_requests_total", "code", "200", "job", "api", "up"]
    result = parse(req.SerializeToString())
    assert [s.location for s in result.series] == ["timeseries[0] http_requests_total", "timeseries[1] up"]
    first, second = result.series[0].samples
    assert first == {"series_id": 0, "name": "http_requests_total", "labels": {"code": "200", "job": "api"},
                     "value": 10.0, "timestamp_ms": 1000}
    assert second["value"] == 12.0 and second["labels"] is first["labels"]
    assert result.errors == [] and result.skipped == {}


def test_staleness_nan_inf_metadata_exemplars_and_created_timestamp():
    req = request(({"__name__": "g"}, [(1.0, 1), (STALE, 2), (float("nan"), 3), (math.inf, 4), (-math.inf, 5)]))
    ts = req.timeseries[0]
    req.symbols.extend(["requests", "seconds", "trace_id", "abc"])
    ts.metadata.type = Metadata.METRIC_TYPE_COUNTER
    ts.metadata.help_ref, ts.metadata.unit_ref = 3, 4
    ts.exemplars.add(labels_refs=[5, 6], value=0.5, timestamp=1)
    ts.created_timestamp = 1
    result = parse(req.SerializeToString())
    assert [s["value"] for s in result.series[0].samples] == [1.0, math.inf, -math.inf]
    assert result.skipped == {"stale": 1, "nan": 1} and result.errors == []


def test_empty_label_values_mean_absent_labels():
    result = parse(request(({"__name__": "m", "a": "", "b": "x"}, [(1.0, 1)])).SerializeToString())
    assert result.series[0].samples[0]["labels"] == {"b": "x"}


@pytest.mark.parametrize("value_refs", [(0, 4), (4, 0), (0, 0)])
def test_a_label_name_sent_twice_refuses_the_series_even_when_a_value_is_empty(value_refs):
    req = Request(symbols=["", "__name__", "up", "job", "api"])
    first, second = value_refs
    req.timeseries.add(labels_refs=[1, 2, 3, first, 3, second]).samples.add(value=1.0, timestamp=1)
    result = parse(req.SerializeToString())
    assert not result.series and [(e.location, e.reason) for e in result.errors] == [
        ("timeseries[0] up", "label 'job' appears twice")]


def test_label_sets_are_decoded_once_across_requests():
    sets = symbol_label_sets()
    body = request(({"__name__": "up", "job": "a"}, [(1.0, 1)])).SerializeToString()
    first, second = parse(body, sets), parse(body, sets)
    assert first.series[0].samples[0]["labels"] is second.series[0].samples[0]["labels"]


def test_bad_series_are_named_and_good_ones_kept():
    req = request(({"__name__": "ok"}, [(1.0, 1)]))
    req.symbols.extend(["__name__", "bad", "a", "1", "2"])  # 1..2 are "__name__", "ok"; 3.. as listed
    n = len(req.symbols)
    for refs in ([3, 4, 99, 6],  # a reference past the table
                 [3, 4, 5],  # odd
                 [3, 4, 5, 6, 5, 7],  # duplicate label "a"
                 [5, 6],  # no __name__
                 [0, 6, 3, 4]):  # empty label name
        req.timeseries.add(labels_refs=refs).samples.add(value=1.0, timestamp=1)
    meta = req.timeseries.add(labels_refs=[3, 4])
    meta.samples.add(value=1.0, timestamp=1)
    meta.metadata.help_ref = n + 5
    native = req.timeseries.add(labels_refs=[3, 4])
    native.histograms.append(b"\x08\x01")  # a Histogram message (count_int = 1)
    req.timeseries.add(labels_refs=[1, 2]).samples.add(value=2.0, timestamp=2)
    result = parse(req.SerializeToString())
    assert [s.location for s in result.series] == ["timeseries[0] ok", "timeseries[8] ok"]
    assert [(e.location, e.reason) for e in result.errors] == [
        ("timeseries[1]", f"labels_refs[2] is 99, past the end of symbols ({n} entries)"),
        ("timeseries[2]", "labels_refs has 3 entries; they must come in name/value pairs"),
        ("timeseries[3] bad", "label 'a' appears twice"),
        ("timeseries[4]", "series has no __name__ label"),
        ("timeseries[5]", "labels_refs[0] points at an empty label name"),
        ("timeseries[6] bad", f"metadata.help_ref is {n + 5}, past the end of symbols ({n} entries)"),
        ("timeseries[7] bad", "1 native histogram sample(s): Vigil stores classic histograms only "
                              "(send them as _bucket/_sum/_count series); nothing of this series was written")]
    assert result.errors[3].raw == b'{a="1"}'


@pytest.mark.parametrize(("symbols", "message"), [
    (["up"], "symbols[0] must be the empty string (io.prometheus.write.v2.Request), it is 'up'"),
    ([], "symbols[0] must be the empty string (io.prometheus.write.v2.Request), it is missing"),
])
def test_a_symbols_table_not_starting_with_the_empty_string_is_refused(symbols, message):
    req = Request(symbols=symbols)
    req.timeseries.add(labels_refs=[]).samples.add(value=1.0, timestamp=1)
    with pytest.raises(PayloadError) as caught:
        parse(req.SerializeToString())
    assert caught.value.status == 400 and message in str(caught.value)


def test_invalid_utf8_in_a_symbol_refuses_the_request():
    symbol = b"\x22\x02\xff\xfe"  # Request field 4 (symbols), two bytes that are not UTF-8
    with pytest.raises(PayloadError) as caught:
        parse(b"\x22\x00" + symbol)
    assert caught.value.status == 400 and "valid UTF-8" in str(caught.value)


@pytest.mark.parametrize("body", [b"\x2a\xff\x01", b"not protobuf at all", b"\x2a\x05\x0a\x03\x0a\x01"])
def test_truncated_or_invalid_protobuf_is_a_400_naming_the_message(body):
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert caught.value.status == 400 and "io.prometheus.write.v2.Request" in str(caught.value)


def test_a_1_0_body_read_as_2_0_holds_nothing():
    """Fields 1–3 are reserved in 2.0, so a mislabelled 1.0 body decodes to an empty request, not to garbage."""
    v1 = WriteRequest()
    ts = v1.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    ts.samples.add(value=1.0, timestamp=1)
    result = parse(v1.SerializeToString())
    assert result.series == [] and result.errors == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_result_or_a_payload_error(body):
    try:
        parse(body)
    except PayloadError as exc:
        assert exc.status == 400


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=12), st.lists(st.text(max_size=5), max_size=8))
def test_any_refs_and_symbols_give_samples_or_named_errors(refs, extra):
    req = Request(symbols=["", "__name__", "m", *extra])
    req.timeseries.add(labels_refs=refs).samples.add(value=1.0, timestamp=1)
    result = parse(req.SerializeToString())
    assert len(result.series) + len(result.errors) == 1
    for error in result.errors:
        assert error.location.startswith("timeseries[0]") and error.reason


label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(label_text, label_text, max_size=8),
       st.lists(st.floats(allow_nan=False), min_size=1, max_size=5))
def test_valid_series_round_trip(labels, values):
    labels.pop("__name__", None)
    req = request(({"__name__": "m", **labels}, [(v, i) for i, v in enumerate(values)]))
    (series,) = parse(decompress(snappy(req), 1_000_000)).series
    assert [s["value"] for s in series.samples] == values
    assert series.samples[0]["labels"] == labels


# --- over HTTP, against a real `vigil ingest` and broker ----------------------------------------

@pytest.fixture
def ingest(start_ingest):
    """A running `vigil ingest` with a 256 KiB body limit; yields (http client, env)."""
    with start_ingest(max_body_bytes=256 * 1024) as running:
        yield running


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.integration
def test_a_2_0_request_lands_in_kafka_and_says_what_was_written(ingest):
    http, env = ingest
    t = now_ms()
    req = request(({"__name__": "up", "job": "api", "instance": "a:9100"}, [(1.0, t)]),
                  ({"__name__": "queue_limit", "job": "api"}, [(math.inf, t)]),
                  ({"__name__": "gone", "job": "api"}, [(STALE, t)]))
    req.timeseries[0].metadata.type = Metadata.METRIC_TYPE_GAUGE
    answer = http.post("/api/v1/write", headers=V2_HEADERS, content=snappy(req))
    assert answer.status_code == 204, answer.text
    assert (answer.headers[SAMPLES_WRITTEN], answer.headers[HISTOGRAMS_WRITTEN],
            answer.headers[EXEMPLARS_WRITTEN]) == ("3", "0", "0")  # the staleness marker was taken
    got = {s["name"]: s for s in samples_in_kafka(env, 2)}
    assert got["up"]["labels"] == {"job": "api", "instance": "a:9100"} and got["up"]["value"] == 1.0
    assert got["queue_limit"]["value"] == math.inf and "gone" not in got


@pytest.mark.integration
def test_bad_2_0_series_get_a_400_naming_them_while_good_ones_are_written(ingest):
    http, env = ingest
    t = now_ms()
    req = request(({"__name__": "good_one", "job": "x"}, [(1.0, t)]),
                  ({"__name__": "bad-name", "job": "x"}, [(3.0, t), (4.0, t + 1)]),
                  ({"__name__": "good_two", "job": "x"}, [(5.0, t)]))
    req.timeseries.add(labels_refs=[1, 500]).samples.add(value=1.0, timestamp=t)
    native = req.timeseries.add(labels_refs=list(req.timeseries[0].labels_refs))
    native.histograms.append(b"\x08\x01")
    answer = http.post("/api/v1/write", headers=V2_HEADERS, content=snappy(req))
    assert answer.status_code == 400
    assert answer.text.startswith("3 series rejected, 2 sample(s) written: ")
    assert "timeseries[1] bad-name: metric name 'bad-name' is invalid" in answer.text
    assert "timeseries[3]: labels_refs[1] is 500, past the end of symbols" in answer.text
    assert "timeseries[4] good_one: 1 native histogram sample(s)" in answer.text
    assert (answer.headers[SAMPLES_WRITTEN], answer.headers[HISTOGRAMS_WRITTEN]) == ("2", "0")
    assert sorted(s["name"] for s in samples_in_kafka(env, 2)) == ["good_one", "good_two"]
    rejects = TopicReader(env.settings, env.settings.topics.rejects, codec.reject())
    records = rejects.wait_for(lambda r: len(r) >= 3, what="3 rejects")
    rejects.close()
    assert {r["location"] for r in records} == {"timeseries[1] bad-name", "timeseries[3]", "timeseries[4] good_one"}


@pytest.mark.integration
@pytest.mark.parametrize(("headers", "content", "status", "message"), [
    ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"}, b"", 415,
     "proto=io.prometheus.write.v3.Request is not supported; send prometheus.WriteRequest or "
     "io.prometheus.write.v2.Request"),
    ({"Content-Type": "application/json"}, b"{}", 415, "Content-Type 'application/json' is not supported"),
    ({"Content-Encoding": "zstd"}, b"", 415, "Content-Encoding 'zstd' is not supported"),
    ({}, b"\x05\xff\xff\xff", 400, "not valid snappy"),
    ({}, b"\xff\xff\xff\xff\x0f", 413, "the limit is 262144 bytes"),
    ({}, b"x" * 300_000, 413, "the limit is 262144 bytes"),
    ({}, bytes(cramjam.snappy.compress_raw(b"\x2a\xff\x01garbage")), 400, "not an io.prometheus.write.v2.Request"),
    ({}, bytes(cramjam.snappy.compress_raw(b"\x22\x02\xff\xfe")), 400, "is every symbol valid UTF-8?"),
    ({}, snappy(Request(symbols=["x"], timeseries=[{"labels_refs": [0, 0]}])), 400, "symbols[0] must be"),
])
def test_bad_2_0_bodies_are_refused_with_the_reason(ingest, headers, content, status, message):
    http, _ = ingest
    answer = http.post("/api/v1/write", headers={**V2_HEADERS, **headers}, content=content)
    assert answer.status_code == status, answer.text
    assert message in answer.text
    if status != 415:
        assert answer.headers[SAMPLES_WRITTEN] == "0"


@pytest.mark.integration
def test_1_0_stays_the_default_and_carries_no_2_0_headers(ingest):
    http, env = ingest
    v1 = WriteRequest()
    ts = v1.timeseries.add()
    ts.labels.add(name="__name__", value="v1_metric")
    ts.samples.add(value=7.0, timestamp=now_ms())
    for content_type in ("application/x-protobuf", "application/x-protobuf;proto=prometheus.WriteRequest"):
        answer = http.post("/api/v1/write", headers={**V2_HEADERS, "Content-Type": content_type}, content=snappy(v1))
        assert answer.status_code == 204, answer.text
        assert SAMPLES_WRITTEN not in answer.headers
    assert [s["value"] for s in samples_in_kafka(env, 2)] == [7.0, 7.0]
