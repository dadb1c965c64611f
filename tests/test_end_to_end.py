"""The whole pipeline as a user sees it: influxdb-client → Vigil → alert in Postgres, one page, API reads."""

from __future__ import annotations

import time

import psycopg
import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from psycopg.types.json import Jsonb

from infra.demo.receiver import DemoReceiver
from tests.harness import api_client, free_port, wait_until

pytestmark = pytest.mark.integration

RULES = """
rules:
  - id: cpu-high
    alert: HighCPU
    metric: cpu_usage_user
    op: ">"
    threshold: 90
    for: 20s
    labels: {severity: page}
    annotations: {summary: "CPU on {{ $labels.host }} is {{ $value }}%"}
"""


@pytest.fixture
def pipeline(vigil_env, tmp_path):
    """Every Vigil process as a real subprocess, plus a Slack-compatible receiver."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    receiver = DemoReceiver(free_port())
    receiver.start()
    ports = {name: free_port() for name in ("ingest", "streams", "sinks", "notifier", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
           "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]), "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]),
           "VIGIL_API_PORT": str(ports["api"]), "VIGIL_RULES_FILE": str(rules),
           "VIGIL_DATA_DIR": str(tmp_path / "faust"), "VIGIL_SLACK_WEBHOOK_URL": receiver.url}
    for name in ("ingest", "streams", "sinks", "notifier", "api"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    yield ports, receiver
    receiver.stop()


def firing_row(dsn: str, status: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT fingerprint, labels, sequence FROM alerts WHERE alertname = 'HighCPU' "
                            "AND status = %s", (status,)).fetchone()


def test_threshold_crossing_pages_once_then_resolves_once(vigil_env, pipeline):
    ports, receiver = pipeline
    with psycopg.connect(vigil_env.dsn) as conn:  # the device registry enriches web-9's samples
        conn.execute("INSERT INTO devices (device_id, labels) VALUES ('web-9', %s)", (Jsonb({"team": "payments"}),))
    client = InfluxDBClient(url=f"http://127.0.0.1:{ports['ingest']}", token="t", org="o")
    write = client.write_api(write_options=SYNCHRONOUS)
    t0 = int(time.time() * 1000) - 120_000
    hot = [f"cpu,host=web-9,cpu=cpu-total usage_user={v},usage_idle={100 - v} {t0 + i * 10_000}"
           for i, v in enumerate([95, 96, 97, 98])]  # over 90 from t0; `for: 20s` is met at t0+20 s
    write.write(bucket="b", record=hot, write_precision="ms")

    fingerprint, labels, sequence = wait_until(lambda: firing_row(vigil_env.dsn, "FIRING"), timeout=60,
                                               message="HighCPU firing in Postgres")
    assert labels["host"] == "web-9" and labels["team"] == "payments" and labels["severity"] == "page"
    wait_until(lambda: len(receiver.pages) >= 1, timeout=30, message="a page at the receiver")
    time.sleep(3)
    assert len(receiver.pages) == 1, receiver.pages
    assert "web-9" in receiver.pages[0]["text"] and "is 97%" in receiver.pages[0]["text"]  # held 20 s at 97

    api = api_client(vigil_env, ports["api"], timeout=10)
    alerts = api.get("/api/v1/alerts", params={"status": "firing"}).json()["items"]
    assert [a["fingerprint"] for a in alerts] == [fingerprint]

    def series():
        answer = api.get("/api/v1/query_range", params={
            "query": 'cpu_usage_user{host="web-9"}', "start": t0 / 1000 - 1, "end": t0 / 1000 + 40, "step": "10s"})
        assert answer.status_code == 200, answer.text
        return [{"labels": {k: v for k, v in s["metric"].items() if k != "__name__"},
                 "points": [[t, float(v)] for t, v in s["values"]]} for s in answer.json()["data"]["result"]]
    (read_back,) = wait_until(series, timeout=40, message="cpu_usage_user readable through the API")
    assert read_back["labels"]["team"] == "payments"
    assert [v for _, v in read_back["points"]][:4] == [95, 96, 97, 98]

    write.write(bucket="b", record=[f"cpu,host=web-9,cpu=cpu-total usage_user=12 {t0 + 50_000}",
                                    f"cpu,host=web-9,cpu=cpu-total usage_user=11 {t0 + 60_000}"],
                write_precision="ms")
    wait_until(lambda: firing_row(vigil_env.dsn, "RESOLVED"), timeout=60, message="HighCPU resolved in Postgres")
    wait_until(lambda: len(receiver.pages) >= 2, timeout=30, message="a resolve page")
    time.sleep(3)
    assert len(receiver.pages) == 2, receiver.pages
    assert "RESOLVED" in receiver.pages[1]["text"].upper()
    detail = api.get(f"/api/v1/alerts/{fingerprint}").json()
    assert [h["status"] for h in detail["history"]] == ["FIRING", "RESOLVED"]
    assert {d["status"] for d in detail["deliveries"]} == {"DELIVERED"}
    client.close()
