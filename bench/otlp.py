"""OTLP/HTTP protobuf: 500 data points per request, ~10 attributes each, as an SDK batch looks."""

from __future__ import annotations

import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

from bench.http_load import Load

POINTS_PER_REQUEST = 500
REQUESTS = 200
SHAPE = f"{REQUESTS} requests × {POINTS_PER_REQUEST} points (gauges and cumulative sums), 8 attributes + resource"
HEADERS = {"Content-Type": "application/x-protobuf"}


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _request(r: int, points: int, now_ns: int) -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([_kv("service.name", "checkout"), _kv("service.instance.id", f"pod-{r % 20}")])
    sm = rm.scope_metrics.add()
    sm.scope.name = "bench"
    per_metric = 50
    for m in range(points // per_metric or 1):
        metric = sm.metrics.add(name=f"app.metric.{m}", unit="s")
        data = metric.gauge if m % 2 else metric.sum
        if not m % 2:
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = pb.AGGREGATION_TEMPORALITY_CUMULATIVE
        for i in range(min(per_metric, points)):
            point = data.data_points.add(time_unix_nano=now_ns + r, as_double=float(i) + 0.25)
            point.attributes.extend([_kv("http.route", f"/api/v{i % 3}/items"), _kv("http.method", "GET"),
                                     _kv("http.status_code", str(200 + i % 5)), _kv("region", "eu-west"),
                                     _kv("az", f"eu-west-{i % 3}"), _kv("tenant", f"t{i}"),
                                     _kv("env", "prod"), _kv("version", "1.4.2")])
    return req.SerializeToString()


def load() -> Load:
    now_ns = time.time_ns() - 600 * 10**9
    bodies = [_request(r, POINTS_PER_REQUEST, now_ns) for r in range(REQUESTS)]
    return Load("/v1/metrics", bodies, HEADERS, REQUESTS * POINTS_PER_REQUEST, [_request(0, 1, now_ns)], 1)
