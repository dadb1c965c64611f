"""The Influx endpoints over real HTTP into the real broker: good data arrives, bad data is named."""

from __future__ import annotations

import gzip
import time

import httpx
import psycopg
import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from psycopg.types.json import Jsonb

from schemas import codec
from schemas.series_id import series_id
from tests.harness import closed_port, free_port, wait_http
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture
def ingest(start_ingest):
    """A running `vigil ingest` with a 64 KiB body limit; yields (http client, env)."""
    with start_ingest(max_body_bytes=64 * 1024) as running:
        yield running


def samples_in_kafka(env, count: int) -> list[dict]:
    reader = TopicReader(env.settings, env.settings.topics.metrics, codec.series_batch())
    reader.wait_for(lambda r: sum(len(b["samples"]) for b in r) >= count, what=f"{count} samples")
    reader.read_for(1)
    reader.close()
    return [s for b in reader.records for s in b["samples"]]


def now_ms() -> int:
    return int(time.time() * 1000)


def test_influxdb_client_write_lands_in_kafka_partitioned_by_series(ingest):
    http, env = ingest
    t = now_ms()
    with InfluxDBClient(url=str(http.base_url), token="x", org="o") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket="b", write_precision="ms",
            record=[f"cpu,host=web-{i},cpu=cpu0 usage_user={i}.5,usage_idle={90 - i} {t}" for i in range(20)])
    samples = samples_in_kafka(env, 40)
    assert len(samples) == 40
    by_name = {(s["name"], s["labels"]["host"]): s for s in samples}
    user = by_name[("cpu_usage_user", "web-7")]
    assert user["value"] == 7.5 and user["timestamp_ms"] == t and user["labels"] == {"host": "web-7", "cpu": "cpu0"}
    assert user["series_id"] == series_id("cpu_usage_user", {"host": "web-7", "cpu": "cpu0"})
    reader = TopicReader(env.settings, env.settings.topics.metrics, codec.series_batch())
    for batch in reader.wait_for(lambda r: len(r) >= 1):
        assert all(s["series_id"] % 2**63 % env.settings.metrics_partitions == batch["partition"]
                   for s in batch["samples"])
    reader.close()


def test_v1_gzip_body_with_precision(ingest):
    http, env = ingest
    sent_s = int(time.time())
    body = gzip.compress(f"temp,room=lab value=21.5 {sent_s}".encode())
    answer = http.post("/write", params={"db": "x", "precision": "s"}, content=body,
                       headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 204, answer.text
    (sample,) = samples_in_kafka(env, 1)
    assert sample["name"] == "temp_value" and sample["value"] == 21.5
    assert sample["timestamp_ms"] == sent_s * 1000


def test_bad_lines_are_named_and_good_lines_still_arrive(ingest):
    http, env = ingest
    t = now_ms()
    far_future = (t + 5 * 365 * 86400_000) * 1_000_000
    body = b"\n".join([
        f"good,host=a v=1 {t}000000".encode(),                       # 1
        b"no_fields_here",                                            # 2 malformed
        f"good,host=b v=2 {t}000000".encode(),                       # 3
        b"esc\\",                                                     # 4 bad escape
        b"utf,host=\xff\xfe v=1",                                     # 5 invalid UTF-8
        f"good,host=c v=3i {t}000000".encode(),                      # 6 type conflict (float in line 1)
        f"good,host=d v=4 {far_future}".encode(),                    # 7 far future
        b"nan,host=e v=NaN",                                          # 8 not a number
        f"good,host=f v=5,s=\"text\" {t}000000".encode(),            # 9 fine; string field skipped
    ])
    answer = http.post("/api/v2/write", params={"bucket": "b", "org": "o"}, content=body)
    assert answer.status_code == 400
    payload = answer.json()
    assert payload["code"] == "invalid"
    rejected = {r["location"]: r["reason"] for r in payload["rejected"]}
    assert set(rejected) == {"line 2", "line 4", "line 5", "line 6", "line 7", "line 8"}
    assert "missing field set" in rejected["line 2"] or "expected" in rejected["line 2"]
    assert "bad escape" in rejected["line 4"]
    assert "UTF-8" in rejected["line 5"]
    assert "type conflict" in rejected["line 6"] and "line 1" in rejected["line 6"]
    assert "in the future" in rejected["line 7"]
    assert "NaN" in rejected["line 8"] or "invalid value" in rejected["line 8"]
    assert "6 line(s) rejected, 3 sample(s) written" in payload["message"]
    hosts = sorted(s["labels"]["host"] for s in samples_in_kafka(env, 3))
    assert hosts == ["a", "b", "f"]
    dead = TopicReader(env.settings, env.settings.topics.rejects, codec.reject())
    rejects = dead.wait_for(lambda r: len(r) >= 6, what="6 rejects on the dead-letter topic")
    assert {r["location"] for r in rejects} == set(rejected)
    assert next(r for r in rejects if r["location"] == "line 4")["payload"] == b"esc\\"
    dead.close()


def test_v1_answers_in_v1_error_format(ingest):
    http, _ = ingest
    answer = http.post("/write", content=b"cpu value=abc")
    assert answer.status_code == 400 and "line 1" in answer.json()["error"] and "abc" in answer.json()["error"]


@pytest.mark.parametrize("body, status, words", [
    (b"", 400, "empty body"),
    (b"   \n\n", 400, "empty body"),
    (b"x" * (65 * 1024), 413, "limit"),
])
def test_request_level_errors(ingest, body, status, words):
    http, _ = ingest
    answer = http.post("/api/v2/write", content=body)
    assert answer.status_code == status and words in answer.json()["message"]


def test_gzip_bomb_and_corrupt_gzip(ingest):
    http, _ = ingest
    bomb = gzip.compress(b"cpu value=1\n" * 200_000)  # 2.4 MB inflated from ~10 KB
    answer = http.post("/api/v2/write", content=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and "decompressed" in answer.json()["message"]
    answer = http.post("/api/v2/write", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 400 and "gzip" in answer.json()["message"]
    answer = http.post("/api/v2/write", content=b"cpu v=1", headers={"Content-Encoding": "br"})
    assert answer.status_code == 415


def test_unknown_precision(ingest):
    http, _ = ingest
    answer = http.post("/api/v2/write", params={"precision": "fortnight"}, content=b"cpu v=1")
    assert answer.status_code == 400 and "precision 'fortnight'" in answer.json()["message"]


def test_hostile_lines_never_crash_the_server(ingest):
    http, _ = ingest
    hostile = [b"," * 20_000, b"\\" * 1000, b"\x00\x00 v=1", b"m " + b"f=1," * 3000, b"m f=" + b"9" * 500,
               b'm s="' + b"\\\"" * 3000, b"m,=x v=1", b"m,k= v=1", b"m v=1 12x", b"m v=1e400"]
    answer = http.post("/api/v2/write", content=b"\n".join(hostile))
    assert answer.status_code == 400
    rejected = {r["location"] for r in answer.json()["rejected"]}
    assert {"line 1", "line 2", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10"} <= rejected
    assert http.get("/ping").status_code == 204


def test_device_registry_labels_are_added(ingest):
    http, env = ingest
    with psycopg.connect(env.dsn) as conn:
        conn.execute("INSERT INTO devices (device_id, labels) VALUES ('pump-7', %s)",
                     (Jsonb({"site": "plant-2", "vendor": "acme", "device": "overridden?"}),))
    answer = http.post("/api/v2/write", params={"precision": "ms"},
                       content=f"flow,device=pump-7,vendor=own rate=3.5 {now_ms()}".encode())
    assert answer.status_code == 204, answer.text
    (sample,) = samples_in_kafka(env, 1)
    # Registry labels are added; the sample's own labels win on conflict.
    assert sample["labels"] == {"device": "pump-7", "vendor": "own", "site": "plant-2"}
    assert sample["series_id"] == series_id("flow_rate", sample["labels"])


def test_kafka_down_answers_503_with_retry_after(vigil_env):
    port = free_port()
    proc = vigil_env.start("ingest", extra_env={"VIGIL_INGEST_PORT": str(port), "VIGIL_PRODUCE_TIMEOUT_S": "2",
                                                 "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"})
    wait_http(f"http://127.0.0.1:{port}/ping", proc)
    answer = httpx.post(f"http://127.0.0.1:{port}/api/v2/write", content=b"cpu v=1", timeout=30)
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) >= 1
    assert "retry" in answer.json()["message"]
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 503
