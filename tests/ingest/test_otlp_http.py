"""OTLP/HTTP with the real OpenTelemetry SDK and exporter, into the real broker and out through the API."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (ExportMetricsServiceRequest,
                                                                          ExportMetricsServiceResponse)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from schemas import codec
from tests.harness import api_client, free_port, wait_until
from tests.ingest.test_influx_http import samples_in_kafka
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture
def ingest(start_ingest):
    """A running `vigil ingest` with a 256 KiB body limit; yields (http client, env)."""
    with start_ingest(max_body_bytes=256 * 1024) as running:
        yield running


@pytest.fixture
def sdk():
    """Makes SDK meter providers exporting to Vigil only when flushed; shuts them down first at teardown."""
    providers: list[MeterProvider] = []

    def make(base_url: str, exporter_class=OTLPMetricExporter, **exporter_options) -> MeterProvider:
        exporter = exporter_class(endpoint=f"{base_url}/v1/metrics", timeout=5, **exporter_options)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        resource = Resource.create({"service.name": "checkout", "service.instance.id": "pod-1", "region": "eu"})
        providers.append(MeterProvider(metric_readers=[reader], resource=resource))
        return providers[-1]
    yield make
    for provider in providers:
        provider.shutdown(timeout_millis=5_000)


def by_name(samples: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for s in samples:
        out.setdefault(s["name"], []).append(s)
    return out


def test_sdk_counters_gauges_and_histograms_arrive_with_prometheus_names(ingest, sdk):
    http, env = ingest
    provider = sdk(str(http.base_url), compression=None)
    meter = provider.get_meter("shop", "2.0")
    meter.create_counter("orders", unit="{order}").add(5, {"route": "/pay"})
    meter.create_up_down_counter("carts.open").add(-2)
    meter.create_histogram("checkout.duration", unit="s").record(0.3, {"route": "/pay"})
    meter.create_observable_gauge("queue.size", callbacks=[lambda _: [Observation(42, {"queue": "mail"})]])
    assert provider.force_flush()
    got = by_name(samples_in_kafka(env, 22))  # 4 single series, 18 of the histogram (15 bounds), target_info
    (orders,) = got["orders_total"]
    assert orders["value"] == 5
    assert orders["labels"] == {"route": "/pay", "job": "checkout", "instance": "pod-1", "otel_scope_name": "shop",
                                "otel_scope_version": "2.0"}
    assert got["carts_open"][0]["value"] == -2 and got["queue_size"][0]["value"] == 42
    buckets = {s["labels"]["le"]: s["value"] for s in got["checkout_duration_seconds_bucket"]}
    assert buckets["0"] == 0 and buckets["5"] == 1 and buckets["+Inf"] == 1  # the SDK's default bounds
    assert got["checkout_duration_seconds_sum"][0]["value"] == 0.3
    (info,) = got["target_info"]
    assert info["labels"]["region"] == "eu" and info["labels"]["job"] == "checkout"


def test_sdk_gzip_and_delta_temporality_become_a_cumulative_counter(ingest, sdk):
    http, env = ingest
    from opentelemetry.exporter.otlp.proto.http import Compression
    provider = sdk(str(http.base_url), compression=Compression.Gzip,
                   preferred_temporality={Counter: AggregationTemporality.DELTA})
    counter = provider.get_meter("shop").create_counter("payments")
    counter.add(5)
    assert provider.force_flush()
    counter.add(3)
    assert provider.force_flush()
    values = [s["value"] for s in samples_in_kafka(env, 4) if s["name"] == "payments_total"]
    assert values == [5, 8]


def test_sdk_json_exporter_counters_gauges_and_histograms(ingest, sdk):
    from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter as JsonExporter
    http, env = ingest
    provider = sdk(str(http.base_url), exporter_class=JsonExporter)
    meter = provider.get_meter("shop", "2.0")
    meter.create_counter("refunds").add(3, {"reason": "late"})
    meter.create_histogram("refund.amount", unit="{EUR}").record(12.5)
    meter.create_observable_gauge("stock", callbacks=[lambda _: [Observation(7, {"sku": "a-1"})]])
    assert provider.force_flush()
    got = by_name(samples_in_kafka(env, 21))  # 2 single series, 18 of the histogram, target_info
    (refunds,) = got["refunds_total"]
    assert refunds["value"] == 3 and refunds["labels"]["reason"] == "late" and refunds["labels"]["job"] == "checkout"
    assert got["refund_amount_count"][0]["value"] == 1 and got["refund_amount_sum"][0]["value"] == 12.5
    assert got["stock"][0]["value"] == 7 and got["stock"][0]["labels"]["sku"] == "a-1"


def test_otlp_json_gets_a_json_answer(ingest):
    http, env = ingest
    body = {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name",
                                                              "value": {"stringValue": "api"}}]},
                                 "scopeMetrics": [{"metrics": [{"name": "temp", "unit": "Cel", "gauge": {
                                     "dataPoints": [{"asDouble": 21.5, "timeUnixNano": str(time.time_ns())}]}}]}]}]}
    answer = http.post("/v1/metrics", json=body)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {}
    (temp,) = [s for s in samples_in_kafka(env, 1) if s["name"] == "temp_celsius"]
    assert temp["value"] == 21.5 and temp["labels"] == {"job": "api"}


def test_partial_success_names_the_refused_points_and_writes_the_rest(ingest):
    http, env = ingest
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    now = time.time_ns()
    metrics.add(name="good", gauge=pb.Gauge(data_points=[pb.NumberDataPoint(as_int=1, time_unix_nano=now)]))
    metrics.add(name="future", gauge=pb.Gauge(data_points=[
        pb.NumberDataPoint(as_int=1, time_unix_nano=now + 86_400 * 10**9)]))
    metrics.add(name="bad_hist", histogram=pb.Histogram(data_points=[
        pb.HistogramDataPoint(count=1, explicit_bounds=[1.0], bucket_counts=[1, 0, 0], time_unix_nano=now)]))
    answer = http.post("/v1/metrics", content=req.SerializeToString(),
                       headers={"Content-Type": "application/x-protobuf"})
    assert answer.status_code == 200
    result = ExportMetricsServiceResponse.FromString(answer.content).partial_success
    assert result.rejected_data_points == 2
    assert "metrics[1] future dataPoints[0]: timestamp" in result.error_message
    assert "metrics[2] bad_hist dataPoints[0]: bucketCounts has 3 entries" in result.error_message
    assert [s["name"] for s in samples_in_kafka(env, 1)] == ["good"]
    rejects = TopicReader(env.settings, env.settings.topics.rejects, codec.reject())
    assert len(rejects.wait_for(lambda r: len(r) >= 2, what="2 rejects")) == 2
    rejects.close()


@pytest.mark.parametrize(("headers", "content", "status", "message"), [
    ({"Content-Type": "text/plain"}, b"x", 415, "Content-Type 'text/plain' is not supported"),
    ({"Content-Type": "application/x-protobuf"}, b"\x0a\xff\x01", 400, "not an ExportMetricsServiceRequest"),
    ({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, b"not gzip", 400, "not valid gzip"),
    ({"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, gzip.compress(b"\0" * 600_000), 413,
     "exceeds the limit"),
    ({"Content-Type": "application/x-protobuf"}, b"\0" * 300_000, 413, "the limit is 262144 bytes"),
])
def test_bad_protobuf_bodies_get_a_status_message(ingest, headers, content, status, message):
    http, _ = ingest
    answer = http.post("/v1/metrics", content=content, headers=headers)
    assert answer.status_code == status
    assert message in Status.FromString(answer.content).message


def test_bad_json_bodies_get_a_json_status(ingest):
    http, _ = ingest
    answer = http.post("/v1/metrics", content=b'{"resourceMetrics": 5}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "not an OTLP ExportMetricsServiceRequest" in json.loads(answer.content)["message"]


def test_sdk_metrics_read_back_through_the_whole_pipeline(vigil_env, sdk):
    ports = {name: free_port() for name in ("ingest", "sinks", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]),
           "VIGIL_API_PORT": str(ports["api"])}
    for name in ("ingest", "sinks", "api"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    provider = sdk(f"http://127.0.0.1:{ports['ingest']}")
    meter = provider.get_meter("shop")
    meter.create_counter("logins").add(7, {"method": "sso"})
    meter.create_histogram("payload.size", unit="By").record(300)
    assert provider.force_flush()
    api = api_client(vigil_env, ports["api"], timeout=10)

    def read_back(metric: str, *match: str):
        selector = metric + "{" + ",".join(f'{n}="{v}"' for n, _, v in (m.partition("=") for m in match)) + "}"
        answer = api.get("/api/v1/query_range", params={"query": selector, "start": time.time() - 60,
                                                        "end": time.time(), "step": "1s"})
        return [{"labels": {k: v for k, v in s["metric"].items() if k != "__name__"},
                 "points": [[t, float(v)] for t, v in s["values"]]} for s in answer.json()["data"]["result"]]
    (logins,) = wait_until(lambda: read_back("logins_total", "method=sso"), timeout=60,
                           message="logins_total through the pipeline")
    assert logins["labels"]["job"] == "checkout" and logins["points"][-1][1] == 7
    (count,) = wait_until(lambda: read_back("payload_size_bytes_count"), timeout=30, message="histogram count")
    assert count["points"][-1][1] == 1
