"""Remote write over real HTTP into the real broker, and from a real Prometheus through the whole pipeline."""

from __future__ import annotations

import math
import time

import cramjam
import httpx
import pytest

from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from schemas import codec
from tests.harness import api_client, free_port, wait_until
from tests.ingest.test_influx_http import samples_in_kafka
from infra.topic_reader import TopicReader
from tests.peers import start_node_exporter, start_prometheus

pytestmark = pytest.mark.integration

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


@pytest.fixture
def ingest(start_ingest):
    """A running `vigil ingest` with a 256 KiB body limit; yields (http client, env)."""
    with start_ingest(max_body_bytes=256 * 1024) as running:
        yield running


def body(*series: tuple[dict[str, str], float]) -> bytes:
    req = WriteRequest()
    stamp = int(time.time() * 1000)
    for labels, value in series:
        ts = req.timeseries.add()
        for name, label_value in labels.items():
            ts.labels.add(name=name, value=label_value)
        ts.samples.add(value=value, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def test_a_write_request_lands_in_kafka_with_inf_kept(ingest):
    http, env = ingest
    answer = http.post("/api/v1/write", headers=HEADERS, content=body(
        ({"__name__": "up", "job": "api", "instance": "a:9100"}, 1.0),
        ({"__name__": "queue_limit", "job": "api"}, math.inf)))
    assert answer.status_code == 204, answer.text
    got = {s["name"]: s for s in samples_in_kafka(env, 2)}
    assert got["up"]["labels"] == {"job": "api", "instance": "a:9100"} and got["up"]["value"] == 1.0
    assert got["queue_limit"]["value"] == math.inf


def test_bad_series_get_a_400_naming_them_while_good_ones_are_written(ingest):
    http, env = ingest
    answer = http.post("/api/v1/write", headers=HEADERS, content=body(
        ({"__name__": "good_one", "job": "x"}, 1.0),
        ({"job": "nameless"}, 2.0),
        ({"__name__": "bad-name", "job": "x"}, 3.0),
        ({"__name__": "many", **{f"l{i}": "v" for i in range(10_000)}}, 4.0),
        ({"__name__": "good_two", "job": "x"}, 5.0)))
    assert answer.status_code == 400
    assert answer.text.startswith("3 series rejected, 2 sample(s) written: ")
    assert "timeseries[1]: series has no __name__ label" in answer.text
    assert "timeseries[2] bad-name: metric name 'bad-name' is invalid" in answer.text
    assert "timeseries[3] many: too many labels: 10000 (limit 64)" in answer.text
    assert sorted(s["name"] for s in samples_in_kafka(env, 2)) == ["good_one", "good_two"]
    rejects = TopicReader(env.settings, env.settings.topics.rejects, codec.reject())
    records = rejects.wait_for(lambda r: len(r) >= 3, what="3 rejects")
    rejects.close()
    assert {(r["protocol"], r["location"]) for r in records} == {
        ("remote_write", "timeseries[1]"), ("remote_write", "timeseries[2] bad-name"),
        ("remote_write", "timeseries[3] many")}


@pytest.mark.parametrize(("headers", "content", "status", "message"), [
    ({"Content-Type": "application/json"}, b"{}", 415, "Content-Type 'application/json' is not supported"),
    ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request"}, b"", 415,
     "proto=io.prometheus.write.v3.Request is not supported"),
    ({"Content-Encoding": "gzip"}, b"", 415, "Content-Encoding 'gzip' is not supported"),
    ({}, b"\x05\xff\xff\xff", 400, "not valid snappy"),
    ({}, b"\xff\xff\xff\xff\x0f", 413, "the limit is 262144 bytes"),
    ({}, bytes(cramjam.snappy.compress_raw(b"\x0a\xff\x01garbage")), 400, "not a prometheus.WriteRequest"),
    ({}, b"x" * 300_000, 413, "the limit is 262144 bytes"),
])
def test_bad_bodies_are_refused_with_the_reason(ingest, headers, content, status, message):
    http, _ = ingest
    answer = http.post("/api/v1/write", headers={**HEADERS, **headers}, content=content)
    assert answer.status_code == status, answer.text
    assert message in answer.text


def test_kafka_down_is_a_503_with_retry_after_so_prometheus_retries(vigil_env):
    port = free_port()
    vigil_env.start("ingest", health_port=None, extra_env={
        "VIGIL_INGEST_PORT": str(port), "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "VIGIL_PRODUCE_TIMEOUT_S": "1"})
    url = f"http://127.0.0.1:{port}/api/v1/write"

    def answered():
        try:
            return httpx.post(url, headers=HEADERS, content=body(({"__name__": "up"}, 1.0)), timeout=10)
        except httpx.TransportError:
            return None
    answer = wait_until(answered, timeout=30, message="ingest answering")
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
    assert "retry it" in answer.text


def prometheus_value(port: int, query: str) -> float:
    answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=10).json()
    (result,) = answer["data"]["result"]
    return float(result["value"][1])


def test_real_prometheus_remote_writes_through_the_pipeline_to_the_api(vigil_env, tmp_path):
    ports = {name: free_port() for name in ("ingest", "sinks", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]),
           "VIGIL_API_PORT": str(ports["api"])}
    for name in ("ingest", "sinks", "api"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    node, node_port = start_node_exporter(tmp_path)
    prom_port = free_port()
    prometheus = start_prometheus(tmp_path, port=prom_port, config=f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: node
    static_configs: [{{targets: ["127.0.0.1:{node_port}"]}}]
  - job_name: prometheus
    static_configs: [{{targets: ["127.0.0.1:{prom_port}"]}}]
remote_write:
  - url: http://127.0.0.1:{ports['ingest']}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms}}
""")
    try:
        api = api_client(vigil_env, ports["api"], timeout=10)

        def read_back(metric: str, *match: str) -> list[dict]:
            selector = metric + "{" + ",".join(f'{n}="{v}"' for n, _, v in (m.partition("=") for m in match)) + "}"
            answer = api.get("/api/v1/query_range", params={"query": selector, "start": time.time() - 120,
                                                            "end": time.time(), "step": "1s"})
            assert answer.status_code == 200, answer.text
            return [{"labels": {k: v for k, v in s["metric"].items() if k != "__name__"},
                     "points": [[t, float(v)] for t, v in s["values"]]} for s in answer.json()["data"]["result"]]

        (mem,) = wait_until(lambda: read_back("node_memory_MemTotal_bytes", "job=node"), timeout=90,
                            message="node_memory_MemTotal_bytes through Prometheus → Vigil → API")
        assert mem["labels"] == {"job": "node", "instance": f"127.0.0.1:{node_port}"}
        assert mem["points"][-1][1] == prometheus_value(prom_port, "node_memory_MemTotal_bytes")
        buckets = wait_until(lambda: read_back("prometheus_http_request_duration_seconds_bucket",
                                               "handler=/-/ready"), timeout=60, message="histogram buckets")
        assert "+Inf" in {s["labels"]["le"] for s in buckets}
        quantiles = wait_until(lambda: read_back("go_gc_duration_seconds", "job=node"), timeout=30,
                               message="summary quantiles")
        assert {"0", "0.5", "1"} <= {s["labels"]["quantile"] for s in quantiles}
        (up,) = wait_until(lambda: read_back("up", "job=node"), timeout=30, message="up{job=node}")
        assert up["points"][-1][1] == 1
        metrics = httpx.get(f"http://127.0.0.1:{ports['ingest']}/metrics/", timeout=5).text
        assert 'vigil_ingest_samples_accepted_total{protocol="remote_write"}' in metrics
    finally:
        prometheus.stop(timeout=10)
        node.stop(timeout=10)
