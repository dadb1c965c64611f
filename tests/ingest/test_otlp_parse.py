"""OTLP decoding and the Prometheus mapping, pure: every point type, names, units, resources, bad points."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from ingest.otlp.cumulative import DeltaToCumulative
from ingest.otlp.parse import PayloadError, decode, parse
from ingest.otlp.translate import metric_name, unit_suffix

NOW = 1_790_000_000_000
T = 1_790_000_000_123_456_789  # ns


def kv(key: str, **value) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(**value))


def request(*metrics: pb.Metric, resource=(kv("service.name", string_value="checkout"),
                                           kv("service.instance.id", string_value="pod-7"),
                                           kv("host.name", string_value="web-1")),
            scope=("shop.metrics", "1.2.0")) -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(resource)
    sm = rm.scope_metrics.add()
    sm.scope.name, sm.scope.version = scope
    sm.metrics.extend(metrics)
    return req


def parsed(req: ExportMetricsServiceRequest):
    """Parse as the server does: from the request's protobuf bytes."""
    return parse(decode(req.SerializeToString(), is_json=False), NOW)


def samples(req) -> dict[tuple[str, tuple], float]:
    result = parsed(req)
    assert not result.errors, result.errors
    return {(s["name"], tuple(sorted(s["labels"].items()))): s["value"] for p in result.points for s in p.samples}


SCOPE = (("instance", "pod-7"), ("job", "checkout"), ("otel_scope_name", "shop.metrics"),
         ("otel_scope_version", "1.2.0"))


def labels(**extra) -> tuple:
    return tuple(sorted((*SCOPE, *extra.items())))


def test_gauge_and_sums_follow_the_prometheus_compatibility_names():
    gauge = pb.Metric(name="system.memory.usage", unit="By", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T, as_int=2048, attributes=[kv("state", string_value="used")])]))
    counter = pb.Metric(name="http.server.requests", unit="{request}", sum=pb.Sum(
        is_monotonic=True, aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE,
        data_points=[pb.NumberDataPoint(time_unix_nano=T, as_double=17.0,
                                        attributes=[kv("http.method", string_value="GET"),
                                                    kv("http.status_code", int_value=200)])]))
    updown = pb.Metric(name="queue.depth", sum=pb.Sum(is_monotonic=False, data_points=[
        pb.NumberDataPoint(time_unix_nano=T, as_int=-3)]))
    ratio = pb.Metric(name="cpu.utilization", unit="1", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(time_unix_nano=T, as_double=0.25)]))
    got = samples(request(gauge, counter, updown, ratio))
    assert got[("system_memory_usage_bytes", labels(state="used"))] == 2048
    assert got[("http_server_requests_total", labels(http_method="GET", http_status_code="200"))] == 17
    assert got[("queue_depth", labels())] == -3
    assert got[("cpu_utilization_ratio", labels())] == 0.25
    assert got[("target_info", (("host_name", "web-1"), ("instance", "pod-7"), ("job", "checkout")))] == 1


def test_timestamps_are_milliseconds_and_zero_means_now():
    req = request(pb.Metric(name="g", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(time_unix_nano=T, as_int=1),
                                                                 pb.NumberDataPoint(as_int=2)])))
    stamps = [s["timestamp_ms"] for p in parsed(req).points for s in p.samples if s["name"] == "g"]
    assert stamps == [T // 1_000_000, NOW]


def test_histogram_becomes_cumulative_buckets_sum_and_count():
    hist = pb.Metric(name="http.server.duration", unit="s", histogram=pb.Histogram(
        aggregation_temporality=pb.AGGREGATION_TEMPORALITY_CUMULATIVE, data_points=[pb.HistogramDataPoint(
            time_unix_nano=T, count=10, sum=4.5, explicit_bounds=[0.1, 0.5, 1.0], bucket_counts=[2, 3, 4, 1])]))
    got = samples(request(hist))
    name = "http_server_duration_seconds"
    assert [got[(f"{name}_bucket", labels(le=le))] for le in ("0.1", "0.5", "1", "+Inf")] == [2, 5, 9, 10]
    assert got[(f"{name}_sum", labels())] == 4.5 and got[(f"{name}_count", labels())] == 10


def test_exponential_histogram_maps_each_bucket_to_its_upper_bound():
    # scale 0: base 2. positive offset 1 → buckets (2,4], (4,8]; negative offset 0 → [-2,-1); zero bucket.
    point = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T, count=10, sum=30.0, scale=0, zero_count=1,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=1, bucket_counts=[3, 4]),
        negative=pb.ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[2]))
    got = samples(request(pb.Metric(name="latency", unit="ms", exponential_histogram=pb.ExponentialHistogram(
        data_points=[point]))))
    name = "latency_milliseconds"
    buckets = {le: got[(f"{name}_bucket", labels(le=le))] for le in ("-1", "0", "4", "8", "+Inf")}
    assert buckets == {"-1": 2, "0": 3, "4": 6, "8": 10, "+Inf": 10}
    assert got[(f"{name}_count", labels())] == 10


def test_exponential_histogram_at_the_minimum_scale_has_bounds_past_the_float_range():
    # Issue 15: scale -10 (the spec's minimum) has base 2^1024, which overflowed a float (a 500).
    # Bucket i's upper bound is 2^(1024·(i+1)): 2^-1024 (a subnormal), 1, then +Inf, which is `+Inf` = count.
    point = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T, count=15, sum=3.0, scale=-10, zero_count=5,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=-2, bucket_counts=[1, 2, 3]),
        negative=pb.ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[4]))
    # A negative bucket bounded by -2^1024 = -Inf holds nothing a float can be; its count still sits below -1.
    folded = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T, count=7, scale=-10,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=-1, bucket_counts=[4]),
        negative=pb.ExponentialHistogramDataPoint.Buckets(offset=0, bucket_counts=[1, 2]))
    got = samples(request(
        pb.Metric(name="wide", exponential_histogram=pb.ExponentialHistogram(data_points=[point])),
        pb.Metric(name="folded", exponential_histogram=pb.ExponentialHistogram(data_points=[folded]))))
    wide = {dict(key)["le"]: value for (name, key), value in got.items() if name == "wide_bucket"}
    assert wide == {"-1": 4, "0": 9, "5.562684646268003e-309": 10, "1": 12, "+Inf": 15}
    folded_buckets = {dict(key)["le"]: value for (name, key), value in got.items() if name == "folded_bucket"}
    assert folded_buckets == {"-1": 3, "1": 7, "+Inf": 7}


def test_exponential_bucket_indexes_past_the_float_range_at_any_scale_are_clamped():
    point = pb.ExponentialHistogramDataPoint(
        time_unix_nano=T, count=6, scale=20,
        positive=pb.ExponentialHistogramDataPoint.Buckets(offset=2**31 - 2, bucket_counts=[1, 2]),
        negative=pb.ExponentialHistogramDataPoint.Buckets(offset=-2**31, bucket_counts=[3]))
    got = samples(request(pb.Metric(name="h", exponential_histogram=pb.ExponentialHistogram(data_points=[point]))))
    # 2^((2^31-1)/2^20) ≈ 2^2048 is +Inf; a negative bound of -2^(-2^11) is 0 (not "-0").
    assert {dict(key)["le"]: value for (name, key), value in got.items() if name == "h_bucket"} == {"0": 3, "+Inf": 6}


def test_summary_becomes_quantiles_sum_and_count():
    point = pb.SummaryDataPoint(time_unix_nano=T, count=5, sum=2.5, quantile_values=[
        pb.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=0.4),
        pb.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=0.9)])
    got = samples(request(pb.Metric(name="rpc.latency", unit="s", summary=pb.Summary(data_points=[point]))))
    assert got[("rpc_latency_seconds", labels(quantile="0.5"))] == 0.4
    assert got[("rpc_latency_seconds", labels(quantile="0.99"))] == 0.9
    assert got[("rpc_latency_seconds_count", labels())] == 5


def test_non_string_attributes_are_written_as_json():
    point = pb.NumberDataPoint(time_unix_nano=T, as_int=1, attributes=[
        kv("ok", bool_value=True), kv("ratio", double_value=0.5),
        kv("tags", array_value={"values": [AnyValue(string_value="a"), AnyValue(int_value=2)]})])
    ((key, value),) = [(k, v) for k, v in samples(request(pb.Metric(name="m", gauge=pb.Gauge(
        data_points=[point])))).items() if k[0] == "m"]
    assert dict(key[1])["ok"] == "true" and dict(key[1])["ratio"] == "0.5" and dict(key[1])["tags"] == '["a",2]'


def test_service_namespace_joins_the_job_and_no_extra_resource_attributes_means_no_target_info():
    req = request(pb.Metric(name="g", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(as_int=1)])),
                  resource=[kv("service.name", string_value="api"), kv("service.namespace", string_value="shop")],
                  scope=("", ""))
    got = samples(req)
    assert list(got) == [("g", (("job", "shop/api"),))]


def test_points_without_a_recorded_value_are_skipped_and_counted():
    req = request(pb.Metric(name="g", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(as_int=1), pb.NumberDataPoint(as_int=2, flags=1)])))
    result = parsed(req)
    assert result.skipped == {"no_recorded_value": 1}
    assert [s["value"] for p in result.points for s in p.samples if s["name"] == "g"] == [1]


def test_bad_points_are_named_with_their_path_and_good_ones_kept():
    good = pb.Metric(name="g", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(as_int=1)]))
    bad_hist = pb.Metric(name="h", histogram=pb.Histogram(data_points=[
        pb.HistogramDataPoint(count=1, explicit_bounds=[1.0, 2.0], bucket_counts=[1]),
        pb.HistogramDataPoint(count=1, explicit_bounds=[2.0, 1.0], bucket_counts=[1, 0, 0])]))
    empty = pb.Metric(name="nothing")
    bad_scale = pb.Metric(name="e", exponential_histogram=pb.ExponentialHistogram(data_points=[
        pb.ExponentialHistogramDataPoint(scale=99, count=1)]))
    result = parsed(request(good, bad_hist, empty, bad_scale))
    assert [(e.location, e.reason) for e in result.errors] == [
        ("resourceMetrics[0].scopeMetrics[0].metrics[1] h dataPoints[0]",
         "bucketCounts has 1 entries for 2 explicitBounds (expected 3)"),
        ("resourceMetrics[0].scopeMetrics[0].metrics[1] h dataPoints[1]",
         "explicitBounds must be finite and strictly increasing"),
        ("resourceMetrics[0].scopeMetrics[0].metrics[2] nothing",
         "metric has no data (gauge, sum, histogram, exponentialHistogram or summary)"),
        ("resourceMetrics[0].scopeMetrics[0].metrics[3] e dataPoints[0]", "scale 99 is outside the range -10..20")]
    assert [s["name"] for p in result.points for s in p.samples] == ["target_info", "g"]


def test_otlp_json_as_the_spec_writes_it():
    # Shape of https://github.com/open-telemetry/opentelemetry-proto/blob/main/examples/metrics.json:
    # camelCase, int64 as strings, enums as numbers, exemplar ids in hex.
    body = json.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
        "scopeMetrics": [{"scope": {"name": "my.library", "version": "1.0.0"}, "metrics": [
            {"name": "my.counter", "unit": "1", "description": "I am a Counter", "sum": {
                "aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [{
                    "asDouble": 5, "startTimeUnixNano": "1544712660300000000", "timeUnixNano": "1544712660300000000",
                    "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}],
                    "exemplars": [{"timeUnixNano": "1544712660300000000", "asDouble": 1,
                                   "spanId": "eee19b7ec3c1b174", "traceId": "5b8efff798038103d269b633813fc60c"}]}]}},
            {"name": "my.histogram", "unit": "1", "histogram": {"aggregationTemporality": 1, "dataPoints": [{
                "timeUnixNano": "1544712660300000000", "count": "2", "sum": 2, "bucketCounts": ["1", "1"],
                "explicitBounds": [1], "min": 0, "max": 2}]}},
            {"name": "unknown.future.field", "futureField": 1, "gauge": {"dataPoints": [{"asInt": "7"}]}}]}]}]})
    result = parse(decode(body.encode(), is_json=True), NOW)
    got = {(s["name"], s["labels"].get("le")): (s["value"], p.delta) for p in result.points for s in p.samples}
    assert got[("my_counter_total", None)] == (5, False)
    assert got[("my_histogram_bucket", "1")] == (1, True) and got[("my_histogram_bucket", "+Inf")] == (2, True)
    assert got[("unknown_future_field", None)] == (7, False)


@pytest.mark.parametrize(("body", "is_json", "message"), [
    (b"\x0a\xff\x01", False, "not an ExportMetricsServiceRequest protobuf"),
    (b"{not json", True, "not JSON"),
    (b"\xff\xfe", True, "not JSON"),
    (b"[1, 2]", True, "not an object"),
    (b'{"resourceMetrics": "nope"}', True, "not an OTLP ExportMetricsServiceRequest"),
    (b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"asInt": "x"}]}}]}]}]}',
     True, "not an OTLP ExportMetricsServiceRequest"),
    (b"[" * 100_000 + b"]" * 100_000, True, "not"),
    # lone surrogate escapes: upb raises SystemError for an object key or an enum name, ParseError elsewhere
    (rb'{"\ud800": 1}', True, "a JSON string holds '\\ud800', a lone surrogate escape"),
    (rb'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"\udfff": 1}]}}]}]}]}',
     True, "a lone surrogate escape"),
    (rb'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"aggregationTemporality": "\ud800"}}]}]}]}',
     True, "a lone surrogate escape"),
    (rb'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"gauge": {"dataPoints": [{"asDouble": "\ud800"}]}}]}]}]}',
     True, "Couldn't parse float: \\ud800"),
])
def test_undecodable_bodies_are_payload_errors(body, is_json, message):
    with pytest.raises(PayloadError) as caught:
        decode(body, is_json)
    assert message in str(caught.value)
    str(caught.value).encode()  # the reason goes out in a UTF-8 answer: no lone surrogate of the body in it


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.booleans())
def test_any_bytes_decode_and_parse_or_give_a_payload_error(body, is_json):
    try:
        parse(decode(body, is_json), NOW)
    except PayloadError:
        pass


def test_unit_words_and_suffixes():
    assert unit_suffix("By/s") == "bytes_per_second" and unit_suffix("{packets}") == "" and unit_suffix("1") == ""
    assert metric_name("process.runtime.gc_count", "{collections}", True, False) == "process_runtime_gc_count_total"
    assert metric_name("requests_total", "", True, False) == "requests_total"
    assert metric_name("2xx.count", "", False, True) == "_2xx_count"
    assert metric_name("latency_seconds", "s", False, True) == "latency_seconds"


def test_deltas_add_up_per_series_and_revert_when_the_write_failed():
    deltas = DeltaToCumulative(max_series=2)
    first = [{"name": "c", "labels": {"a": "1"}, "value": 2.0}, {"name": "c", "labels": {"a": "2"}, "value": 5.0}]
    deltas.apply(first)
    second = [{"name": "c", "labels": {"a": "1"}, "value": 3.0}]
    applied = deltas.apply(second)
    assert [s["value"] for s in first + second] == [2, 5, 5]
    deltas.revert(applied)
    retry = [{"name": "c", "labels": {"a": "1"}, "value": 3.0}]
    deltas.apply(retry)
    assert retry[0]["value"] == 5  # the failed write's delta counted once, not twice
    deltas.apply([{"name": "c", "labels": {"a": "3"}, "value": 1.0}])  # evicts the oldest series (a=2)
    again = [{"name": "c", "labels": {"a": "2"}, "value": 1.0}]
    deltas.apply(again)
    assert again[0]["value"] == 1  # starts again from zero: a counter reset for rate()


def test_an_attribute_with_invalid_utf8_refuses_its_point_only():
    from ingest.otlp.wire import metrics_raw_pb2 as raw
    req = raw.ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="g")
    metric.gauge.data_points.add(as_int=1)
    metric.gauge.data_points.add(as_int=2, attributes=[b"\x0a\x02\xff\xfe"])  # KeyValue.key not UTF-8
    result = parse(decode(req.SerializeToString(), is_json=False), NOW)
    assert [(e.location.rsplit(" ", 1)[-1], e.reason) for e in result.errors] == [
        ("dataPoints[1]", "an attribute is not a valid KeyValue (is its key or value valid UTF-8?)")]
    assert [s["value"] for p in result.points for s in p.samples] == [1]


def test_attribute_sets_are_decoded_once_and_never_changed_by_their_users():
    from ingest.otlp.translate import AttributeSets
    sets = AttributeSets()
    point = pb.NumberDataPoint(as_int=1, attributes=[kv("route", string_value="/a")])
    body = request(pb.Metric(name="g", gauge=pb.Gauge(data_points=[point]))).SerializeToString()
    first = parse(decode(body, False), NOW, sets)
    parse(decode(body, False), NOW, sets)
    assert sets.get((kv("route", string_value="/a").SerializeToString(),)) == {"route": "/a"}  # no job etc.
    assert first.points[-1].samples[0]["labels"]["job"] == "checkout"


def test_a_points_labels_are_one_shared_dict_per_attributes_and_scope_across_exports():
    from ingest.otlp.translate import AttributeSets
    sets = AttributeSets()
    point = pb.NumberDataPoint(as_int=1, attributes=[kv("route", string_value="/a")])
    metric = pb.Metric(name="g", gauge=pb.Gauge(data_points=[point]))

    def labels(req):
        return parse(decode(req.SerializeToString(), False), NOW, sets).points[-1].samples[0]["labels"]
    first, again = labels(request(metric)), labels(request(metric))
    other_pod = labels(request(metric, resource=(kv("service.name", string_value="checkout"),
                                                 kv("service.instance.id", string_value="pod-8"))))
    assert first is again  # the pipeline's checks of this dict carry over to the next export
    assert first == {"route": "/a", "otel_scope_name": "shop.metrics", "otel_scope_version": "1.2.0",
                     "job": "checkout", "instance": "pod-7"}
    assert other_pod is not first and other_pod["instance"] == "pod-8"
