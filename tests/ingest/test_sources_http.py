"""Agent tokens, relabeling and the series limit on a real `vigil ingest`, with real clients."""

from __future__ import annotations

import base64
import time

import psycopg
import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from tests.harness import create_key, free_port, wait_until
from tests.ingest.test_influx_http import samples_in_kafka
from tests.ingest.test_remote_write_http import HEADERS, body

pytestmark = pytest.mark.integration

EDGE = "edge-token-0123456789"
LAB = "lab-token-0123456789"
CONFIG = f"""
tokens:
  - {{name: edge, token: {EDGE}, labels: {{site: eu-1}}}}
  - {{name: lab, token: {LAB}}}
sources:
  edge:
    relabel_configs:
      - {{source_labels: [__name__], regex: "go_.*", action: drop}}
      - {{source_labels: [host], regex: "(.*)\\\\.example\\\\.com", target_label: host}}
  lab: {{max_new_series_per_hour: 3}}
"""


@pytest.fixture
def ingest(start_ingest, tmp_path):
    config = tmp_path / "ingest.yaml"
    config.write_text(CONFIG)
    with start_ingest(max_body_bytes=16 * 1024 * 1024, VIGIL_INGEST_CONFIG=str(config)) as running:
        yield running


def test_writes_without_a_valid_token_are_refused_and_health_stays_open(ingest):
    http, _ = ingest
    for headers in ({}, {"Authorization": "Bearer wrong-token-000000"}, {"Authorization": "Basic !!"}):
        answer = http.post("/api/v2/write", content=b"m value=1", headers=headers)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "token" in answer.json()["message"]
    answer = http.post("/api/v1/write", headers=HEADERS, content=body(({"__name__": "up"}, 1.0)))
    assert answer.status_code == 401
    assert http.get("/healthz").status_code == 200 and http.get("/metrics/").status_code == 200


def test_influxdb_client_token_adds_the_agents_labels_and_its_relabel_rules_apply(ingest):
    http, env = ingest
    t = int(time.time() * 1000)
    with InfluxDBClient(url=str(http.base_url), token=EDGE, org="o") as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket="b", write_precision="ms", record=[
            f"cpu,host=web-1.example.com,site=spoofed usage_user=12.5 {t}", f"go,host=web-1 gc=3 {t}"])
    (sample,) = samples_in_kafka(env, 1)
    assert sample["name"] == "cpu_usage_user"
    assert sample["labels"] == {"host": "web-1", "site": "eu-1"}  # the token's label wins over the sender's


def test_basic_auth_with_the_token_as_password_works_for_remote_write(ingest):
    http, env = ingest
    basic = "Basic " + base64.b64encode(f"prometheus:{EDGE}".encode()).decode()
    answer = http.post("/api/v1/write", headers={**HEADERS, "Authorization": basic},
                       content=body(({"__name__": "up", "job": "node"}, 1.0)))
    assert answer.status_code == 204, answer.text
    (sample,) = samples_in_kafka(env, 1)
    assert sample["labels"] == {"job": "node", "site": "eu-1"}


def test_the_series_limit_refuses_new_series_but_known_ones_keep_flowing(ingest):
    http, env = ingest
    auth = {"Authorization": f"Token {LAB}"}
    t = int(time.time() * 1000)
    first = "\n".join(f"temp,room=r{i} value={i} {t}" for i in range(3))
    assert http.post("/api/v2/write?precision=ms", content=first, headers=auth).status_code == 204
    more = "\n".join(f"temp,room=r{i} value={i + 10} {t + 1}" for i in range(5))  # r0-r2 known, r3 and r4 new
    answer = http.post("/api/v2/write?precision=ms", content=more, headers=auth)
    assert answer.status_code == 400
    rejected = answer.json()["rejected"]
    assert [r["location"] for r in rejected] == ["line 4", "line 5"]
    assert "series limit reached: source 'lab' may create 3 new series per hour" in rejected[0]["reason"]
    values = sorted(s["value"] for s in samples_in_kafka(env, 6))
    assert values == [0, 1, 2, 10, 11, 12]


def test_influx_client_sees_401_as_an_error(ingest):
    http, _ = ingest
    with InfluxDBClient(url=str(http.base_url), token="not-a-token-000000", org="o") as client:
        with pytest.raises(ApiException) as caught:
            client.write_api(write_options=SYNCHRONOUS).write(bucket="b", record="m value=1")
    assert caught.value.status == 401


def test_a_bad_config_file_stops_ingest_naming_the_key(vigil_env, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("sources: {edge: {max_new_series_per_hour: lots}}")
    proc = vigil_env.start("ingest", extra_env={"VIGIL_INGEST_PORT": str(free_port()),
                                                "VIGIL_INGEST_CONFIG": str(config)})
    assert proc.popen.wait(timeout=30) != 0
    log = vigil_env.log(proc)
    assert f"invalid VIGIL_INGEST_CONFIG {config}:1: sources.edge.max_new_series_per_hour: expected a whole number" in log


def test_ingest_tokens_made_with_vigil_keys_are_required_labelled_and_revocable(start_ingest, vigil_env):
    token = create_key(vigil_env.dsn, "ingest", "node-agent-eu", labels={"dc": "eu"})
    with start_ingest(max_body_bytes=1024 * 1024) as (http, env):
        assert http.post("/api/v2/write", content=b"m value=1").status_code == 401  # a stored token exists
        t = int(time.time() * 1000)
        answer = http.post("/api/v2/write?precision=ms", content=f"cpu,host=a usage=1 {t}",
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 204, answer.text
        (sample,) = samples_in_kafka(env, 1)
        assert sample["labels"] == {"host": "a", "dc": "eu"}
        later = create_key(vigil_env.dsn, "ingest", "late-agent")  # picked up without a restart
        wait_until(lambda: http.post("/api/v2/write?precision=ms", content=f"cpu,host=b usage=2 {t}",
                                     headers={"Authorization": f"Bearer {later}"}).status_code == 204,
                   timeout=15, message="a token created after start accepted")
        with psycopg.connect(vigil_env.dsn, autocommit=True) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE name = 'late-agent'")
        wait_until(lambda: http.post("/api/v2/write?precision=ms", content=f"cpu,host=b usage=3 {t}",
                                     headers={"Authorization": f"Bearer {later}"}).status_code == 401,
                   timeout=15, message="a revoked token refused")
        log = "".join(env.log(p) for p in env.processes)
        assert token not in log and later not in log
