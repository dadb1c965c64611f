"""Ingest's memory is bounded in bytes whatever a sender sends (issue 15): refused input is not
remembered, and what is remembered has a byte budget, not only an entry count."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from ingest import cardinality
from ingest.influx import parse as influx_parse
from ingest.label_sets import LabelSets
from ingest.otlp import translate
from ingest.otlp.cumulative import DeltaToCumulative
from ingest.statsd.parse import parse as statsd_parse
from ingest.validate import Limits
from sinks.tsdb import LineEncoder
from kernel import rule_template as template

LIMITS = Limits()
# Resident memory a fresh ingest may gain while refusing REFUSED_MB of distinct input per protocol. Before
# the byte bounds it gained ~1.6 MB per MB refused (label sets, names and attribute sets of refused input
# kept by entry-count caches): ~130 MB for these 80 MB. Now refused input is not cached, and what is
# cached has a byte budget; the bound leaves room for the allocator's own slack.
REFUSED_MB = 40
RSS_GROWTH_BOUND_MB = 60


def _text(chars: int) -> str:
    return os.urandom((chars + 1) // 2).hex()[:chars]


def test_refused_label_sets_are_not_remembered():
    sets = LabelSets(max_bytes=1 << 20)
    for _ in range(200):
        assert sets.check({"k": _text(LIMITS.max_label_value_len + 1)}, LIMITS) is not None
    checks = next(iter(sets._checked.values()))
    assert (len(checks), checks.bytes) == (0, 0)


def test_label_set_memos_stay_within_their_byte_budget():
    sets = LabelSets(max_bytes=1 << 20)
    for _ in range(2_000):
        labels = {"host": _text(1_000), "region": _text(1_000)}  # valid, 2 KB each: 4 MB in all
        assert sets.check(labels, LIMITS) is None
        sets.key(labels)
    assert next(iter(sets._checked.values())).bytes <= 1 << 20
    assert sets._keys.bytes <= 1 << 20


def test_influx_names_longer_than_the_limits_are_not_cached():
    before = (influx_parse._label_name.cache_info().currsize, influx_parse._metric_name.cache_info().currsize)
    result = influx_parse.parse(f"m_{_text(300)},k{_text(200)}=v value=1".encode(), precision="ms")
    assert len(result.lines) == 1  # parsed all the same (and refused later by the name limits)
    after = (influx_parse._label_name.cache_info().currsize, influx_parse._metric_name.cache_info().currsize)
    assert after == before


def test_otlp_names_longer_than_the_limits_are_not_cached():
    before = (translate._label_name.cache_info().currsize, translate._metric_name.cache_info().currsize,
              translate._unit_suffix.cache_info().currsize)
    assert translate.label_name("k." + _text(300)).startswith("k_")
    assert translate.metric_name(_text(300), "u" + _text(100), False, True)
    after = (translate._label_name.cache_info().currsize, translate._metric_name.cache_info().currsize,
             translate._unit_suffix.cache_info().currsize)
    assert after == before


def _raw(key: str, value: str) -> tuple[bytes, ...]:
    return (KeyValue(key=key, value=AnyValue(string_value=value)).SerializeToString(),)


def test_otlp_attribute_sets_ingest_refuses_are_not_cached():
    sets = translate.AttributeSets(max_bytes=4 << 20)
    ref = sets.base_ref({"job": "j"})
    for _ in range(100):
        labels = sets.merged(_raw(f"k{_text(20)}", _text(LIMITS.max_label_value_len + 1)), {"job": "j"}, ref)
        assert len(labels) == 2
    assert (len(sets._sets), len(sets._merged)) == (0, 0)


def test_otlp_attribute_sets_stay_within_their_byte_budget():
    sets = translate.AttributeSets(max_bytes=4 << 20)
    ref = sets.base_ref({"job": "j"})
    for _ in range(3_000):  # valid sets of 2 KB: 6 MB of wire bytes, more decoded
        sets.merged(_raw(f"k{_text(20)}", _text(2_000)), {"job": "j"}, ref)
    assert sets._sets.bytes + sets._merged.bytes + sets._bases.bytes <= 4 << 20
    assert sets._sets.evictions > 0


def test_delta_totals_stay_within_their_byte_budget():
    deltas = DeltaToCumulative(max_series=100_000, max_bytes=1 << 20)
    for _ in range(1_000):
        deltas.apply([{"series_id": 0, "name": "x", "labels": {"k": _text(2_000)}, "value": 1.0,
                       "timestamp_ms": 0}])
    assert deltas.bytes <= 1 << 20
    assert len(deltas._totals) < 1_000


@pytest.mark.parametrize("line, words", [
    (f"{'n' * 257}:1|c", "metric name"),
    (f"n:1|c|#{'k' * 129}:v", "tag key"),
    (f"n:1|c|#k:{'v' * 2049}", "value is 2049 characters"),
])
def test_statsd_lines_ingest_would_refuse_are_refused_by_the_parser(line, words):
    result = statsd_parse(line.encode())  # so the aggregator never holds their series until the next flush
    assert result.metrics == []
    assert words in result.errors[0].reason


def test_statsd_names_and_tags_at_the_limits_are_kept():
    result = statsd_parse(f"{'n' * 256}:1|c|#{'k' * 128}:{'v' * 2048}".encode())
    assert len(result.metrics) == 1 and not result.errors


def test_sink_prefix_cache_stays_within_its_byte_budget():
    encoder = LineEncoder(cache_size=1_000_000, cache_bytes=1 << 20)
    for _ in range(1_000):
        encoder.lines([{"series_id": 0, "name": "x", "labels": {"k": _text(2_000)}, "value": 1.0, "timestamp_ms": 0}])
        assert encoder.prefix_bytes <= (1 << 20) + 10_000
    assert len(encoder._prefixes) < 1_000


def test_long_alert_templates_are_not_cached():
    before = template._simple.cache_info().currsize
    text = "{{ $labels.host }}" + "x" * 5_000
    assert template.render(text, {"host": "a"}, 1.0).startswith("a")
    assert template._simple.cache_info().currsize == before


# --- against a real ingest process ---------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def _influx_body(bytes_: int) -> bytes:
    lines, size = [], 0
    while size < bytes_:  # a new tag name and a too-long value on every line: each line refused
        line = f"refused,k{_text(100)}={_text(LIMITS.max_label_value_len + 50)} value=1"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines).encode()


def _otlp_body(bytes_: int) -> bytes:
    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add(name="refused", unit="1")
    for _ in range(bytes_ // (LIMITS.max_label_value_len + 200)):
        point = metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_double=1.0)
        point.attributes.append(KeyValue(key=f"k{_text(100)}",
                                         value=AnyValue(string_value=_text(LIMITS.max_label_value_len + 50))))
    # then a resource whose attribute key isn't UTF-8: the whole request is a 400
    return request.SerializeToString() + bytes([0x0A, 0x08, 0x0A, 0x06, 0x0A, 0x04, 0x0A, 0x02, 0xFF, 0xFE])


@pytest.mark.integration
def test_refused_input_does_not_grow_ingest(start_ingest):
    with start_ingest(max_body_bytes=2 * 1024 * 1024) as (http, env):
        pid = env.processes[-1].popen.pid
        # Warm up: the first requests of each kind import and allocate what every later one reuses.
        assert http.post("/api/v2/write", content=_influx_body(100_000)).status_code == 400
        assert http.post("/v1/metrics", content=_otlp_body(100_000),
                         headers={"Content-Type": "application/x-protobuf"}).status_code == 400
        time.sleep(0.5)
        before = _rss_mb(pid)
        for _ in range(REFUSED_MB):  # 1 MB bodies
            answer = http.post("/api/v2/write", content=_influx_body(1 << 20))
            assert answer.status_code == 400, answer.text[:200]
            answer = http.post("/v1/metrics", content=_otlp_body(1 << 20),
                               headers={"Content-Type": "application/x-protobuf"})
            assert answer.status_code == 400, answer.text[:200]
        time.sleep(0.5)
        grown = _rss_mb(pid) - before
        assert grown < RSS_GROWTH_BOUND_MB, f"ingest grew by {grown:.0f} MB refusing {2 * REFUSED_MB} MB"


@pytest.mark.integration
def test_series_remembered_per_hour_are_bounded_over_all_sources(vigil_env, monkeypatch):
    monkeypatch.setattr(cardinality, "LOCAL_KNOWN_MAX", 100)

    async def run() -> int:
        redis = aioredis.from_url(vigil_env.env["VIGIL_REDIS_URL"])
        try:
            limiter = cardinality.CardinalityLimiter(redis, vigil_env.prefix)
            for source in range(10):  # ten sources of 60 new series each: 600 ids, but at most ~100 kept
                assert await limiter.refused(f"s{source}", 1_000, set(range(source * 60, source * 60 + 60))) == set()
            return sum(map(len, limiter._known.values()))
        finally:
            await redis.aclose()

    assert asyncio.run(run()) <= 100 + 60


def test_cache_sizes_are_exported():
    from prometheus_client import REGISTRY, generate_latest

    sets = LabelSets(max_bytes=1 << 20)
    sets.key({"host": "a"})
    text = generate_latest(REGISTRY).decode()
    assert 'vigil_ingest_cache_bytes{cache="label_keys"}' in text
    assert 'vigil_ingest_cache_misses_total{cache="label_keys"} 1.0' in text
    assert 'vigil_ingest_cache_evictions_total{cache="label_keys"} 0.0' in text


def test_sink_prefix_cache_size_is_exported():
    from prometheus_client import REGISTRY

    encoder = LineEncoder(cache_size=1_000_000, cache_bytes=1 << 20)
    encoder.lines([{"series_id": 0, "name": "x", "labels": {"k": "v"}, "value": 1.0, "timestamp_ms": 0}])
    assert REGISTRY.get_sample_value("vigil_sink_cache_bytes", {"cache": "series_prefix"}) == encoder.prefix_bytes > 0
