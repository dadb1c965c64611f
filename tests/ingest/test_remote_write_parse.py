"""Remote write decoding, pure: series → samples, staleness and NaN skipped, bad series and bodies named."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.remote_write.config import STALE_NAN_BITS
from ingest.remote_write.parse import PayloadError, decompress, parse
from ingest.remote_write.prompb.remote_pb2 import MetricMetadata, WriteRequest

STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def request(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> WriteRequest:
    req = WriteRequest()
    for labels, points in series:
        ts = req.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for value, stamp in points:
            ts.samples.add(value=value, timestamp=stamp)
    return req


def test_series_become_samples_sharing_one_labels_dict():
    req = request(({"__name__": "http_requests_total", "job": "api", "code": "200"}, [(10.0, 1000), (12.0, 2000)]),
                  ({"__name__": "up", "job": "api"}, [(1.0, 1000)]))
    result = parse(req.SerializeToString())
    assert [s.location for s in result.series] == ["timeseries[0] http_requests_total", "timeseries[1] up"]
    first, second = result.series[0].samples
    assert first == {"series_id": 0, "name": "http_requests_total", "labels": {"job": "api", "code": "200"},
                     "value": 10.0, "timestamp_ms": 1000}
    assert second["value"] == 12.0 and second["labels"] is first["labels"]
    assert result.errors == [] and result.skipped == {}


def test_histogram_and_summary_series_pass_as_their_own_series():
    req = request(({"__name__": "rpc_seconds_bucket", "le": "0.5"}, [(3.0, 1)]),
                  ({"__name__": "rpc_seconds_bucket", "le": "+Inf"}, [(7.0, 1)]),
                  ({"__name__": "rpc_seconds_sum"}, [(2.5, 1)]),
                  ({"__name__": "rpc_quantiles", "quantile": "0.99"}, [(0.3, 1)]))
    result = parse(req.SerializeToString())
    assert [(s.samples[0]["name"], s.samples[0]["labels"], s.samples[0]["value"]) for s in result.series] == [
        ("rpc_seconds_bucket", {"le": "0.5"}, 3.0), ("rpc_seconds_bucket", {"le": "+Inf"}, 7.0),
        ("rpc_seconds_sum", {}, 2.5), ("rpc_quantiles", {"quantile": "0.99"}, 0.3)]


def test_staleness_markers_and_nan_are_skipped_and_counted_but_inf_is_kept():
    req = request(({"__name__": "g"}, [(1.0, 1), (STALE, 2), (float("nan"), 3), (float("inf"), 4),
                                      (float("-inf"), 5)]),
                  ({"__name__": "gone"}, [(STALE, 9)]))
    result = parse(req.SerializeToString())
    assert [s["value"] for s in result.series[0].samples] == [1.0, math.inf, -math.inf]
    assert len(result.series) == 1  # a series holding only a staleness marker yields nothing
    assert result.skipped == {"stale": 2, "nan": 1}


def test_empty_label_values_mean_absent_labels():
    result = parse(request(({"__name__": "m", "a": "", "b": "x"}, [(1.0, 1)])).SerializeToString())
    assert result.series[0].samples[0]["labels"] == {"b": "x"}


@pytest.mark.parametrize("values", [("", "api"), ("api", ""), ("", "")])
def test_a_label_name_sent_twice_refuses_the_series_even_when_a_value_is_empty(values):
    req = WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="up")
    for value in values:
        ts.labels.add(name="job", value=value)
    ts.samples.add(value=1.0, timestamp=1)
    result = parse(req.SerializeToString())
    assert not result.series and [(e.location, e.reason) for e in result.errors] == [
        ("timeseries[0] up", "label 'job' appears twice")]


def test_bad_series_are_named_and_good_ones_kept():
    req = request(({"__name__": "ok"}, [(1.0, 1)]), ({"job": "x"}, [(1.0, 1)]), ({"__name__": "ok2"}, [(2.0, 1)]))
    dup = req.timeseries.add()
    dup.labels.add(name="__name__", value="dup")
    dup.labels.add(name="a", value="1")
    dup.labels.add(name="a", value="2")
    dup.samples.add(value=1.0, timestamp=1)
    result = parse(req.SerializeToString())
    assert [s.location for s in result.series] == ["timeseries[0] ok", "timeseries[2] ok2"]
    assert [(e.location, e.reason) for e in result.errors] == [
        ("timeseries[1]", "series has no __name__ label"), ("timeseries[3] dup", "label 'a' appears twice")]
    assert result.errors[0].raw == b'{job="x"}'


def test_exemplars_and_metadata_are_ignored():
    req = request(({"__name__": "m"}, [(1.0, 1)]))
    req.timeseries[0].exemplars.add(value=5.0, timestamp=1).labels.add(name="trace_id", value="abc")
    req.metadata.add(type=MetricMetadata.COUNTER, metric_family_name="m", help="help", unit="")
    result = parse(req.SerializeToString())
    assert [s["value"] for s in result.series[0].samples] == [1.0] and not result.errors


def test_native_histograms_an_unknown_field_are_skipped_without_error():
    ts = request(({"__name__": "m"}, [(1.0, 1)])).timeseries[0].SerializeToString()
    native = b"\x22\x02\x08\x01"  # TimeSeries field 4 (histograms), a length-delimited message
    body = b"\x0a" + bytes([len(ts) + len(native)]) + ts + native
    result = parse(body)
    assert [s["value"] for s in result.series[0].samples] == [1.0]


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"\x05\xff\xff\xff", 400, "not valid snappy"),  # declares 5 bytes, then garbage
    (b"\xff\xff\xff\xff\x0fabc", 413, "would be 4294967295 bytes"),  # a 4 GiB bomb, refused unread
    (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 400, "not snappy"),
    (bytes(cramjam.snappy.compress_raw(b"x" * 5000))[:-20], 400, "snappy"),
    (bytes(cramjam.snappy.compress_raw(b"\0" * 2_000_000)), 413, "would be 2000000 bytes"),
])
def test_bad_snappy_is_refused_before_decoding(body, status, message):
    with pytest.raises(PayloadError) as caught:
        decompress(body, max_bytes=1_000_000)
    assert caught.value.status == status and message in str(caught.value)


@pytest.mark.parametrize("body", [b"\x0a\xff\x01", b"not protobuf at all", b"\x0a\x05\x0a\x03\x0a\x01"])
def test_invalid_protobuf_is_a_400_naming_the_message_type(body):
    with pytest.raises(PayloadError) as caught:
        parse(body)
    assert caught.value.status == 400 and "prometheus.WriteRequest" in str(caught.value)


def test_invalid_utf8_in_a_label_refuses_that_series_only():
    label = b"\x0a\x04" + b"\xff\xfe" + b"ab"  # Label.name with invalid UTF-8
    bad = b"\x0a" + bytes([len(label)]) + label
    good = request(({"__name__": "ok"}, [(1.0, 1)])).SerializeToString()
    result = parse(b"\x0a" + bytes([len(bad)]) + bad + good)
    assert [(e.location, e.reason) for e in result.errors] == [
        ("timeseries[0]", "a label is not a valid prometheus.Label (is it valid UTF-8?)")]
    assert [s.location for s in result.series] == ["timeseries[1] ok"]


def test_label_sets_are_decoded_once_and_shared():
    from ingest.remote_write.parse import LabelSets
    sets = LabelSets()
    body = request(({"__name__": "up", "job": "a"}, [(1.0, 1)])).SerializeToString()
    first, second = parse(body, sets), parse(body, sets)
    assert first.series[0].samples[0]["labels"] is second.series[0].samples[0]["labels"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_result_or_a_payload_error(body):
    for decode in (lambda: parse(body), lambda: decompress(body, 1_000_000)):
        try:
            decode()
        except PayloadError as exc:
            assert exc.status in (400, 413)


label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(label_text, label_text, max_size=8),
       st.lists(st.floats(allow_nan=False), min_size=1, max_size=5))
def test_valid_series_round_trip(labels, values):
    labels.pop("__name__", None)
    req = request(({"__name__": "m", **labels}, [(v, i) for i, v in enumerate(values)]))
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    (series,) = parse(decompress(body, 1_000_000)).series
    assert [s["value"] for s in series.samples] == values
    assert series.samples[0]["labels"] == labels


def test_shared_label_sets_carry_the_pipelines_verdict_and_key_for_each_limits():
    from ingest.label_sets import LabelSets as Checks
    from ingest.label_sets import SharedLabels
    from ingest.validate import Limits, check_labels
    from schemas.series_id import labels_key
    body = request(({"__name__": "up", "job": "a", "bad-label": "x"}, [(1.0, 1)])).SerializeToString()
    labels = parse(body).series[0].samples[0]["labels"]
    assert type(labels) is SharedLabels and labels == {"job": "a", "bad-label": "x"}
    checks, strict, short = Checks(), Limits(), Limits(max_labels=1)
    for limits in (strict, short, strict):  # a verdict is remembered with the limits it was made under
        assert checks.check(labels, limits) == check_labels(dict(labels), limits) is not None
    assert checks.key(labels) == checks.key(labels) == labels_key(dict(labels))
