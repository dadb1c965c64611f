"""Rules of every stateful type created through the API fire and resolve end to end: one page each way."""

from __future__ import annotations

import time

import psycopg
import pytest
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from infra.demo.receiver import DemoReceiver
from tests.harness import api_client, free_port, wait_until

pytestmark = pytest.mark.integration

RULES = [
    {"id": "pay-rate", "alert": "PayRate", "type": "rate", "metric": "requests_total", "match": {"route": "/pay"},
     "window": "1m", "op": ">", "threshold": 5, "annotations": {"summary": "{{ $value | humanize }} req/s"}},
    {"id": "pay-latency", "alert": "PayLatency", "type": "avg_over_time", "metric": "latency_ms", "window": "30s",
     "op": ">", "threshold": 100},
    {"id": "queue-anomaly", "alert": "QueueAnomaly", "type": "anomaly", "metric": "queue_depth", "threshold": 6,
     "warmup": 20},
    {"id": "pump-silent", "alert": "PumpSilent", "type": "absent", "metric": "pump_pressure", "by": ["device"],
     "absent_for": "3s"},
]


@pytest.fixture
def pipeline(vigil_env, tmp_path):
    """Every Vigil process (the streams worker with no rules file: rules come from the API)."""
    receiver = DemoReceiver(free_port())
    receiver.start()
    ports = {name: free_port() for name in ("ingest", "streams", "sinks", "notifier", "api")}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
           "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]), "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]),
           "VIGIL_API_PORT": str(ports["api"]), "VIGIL_DATA_DIR": str(tmp_path / "faust"),
           "VIGIL_SLACK_WEBHOOK_URL": receiver.url}
    for name in ("api", "ingest", "streams", "sinks", "notifier"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    yield ports, receiver
    receiver.stop()


def pages_of(receiver, alertname: str) -> list[str]:
    """FIRING/RESOLVED of one alert's pages, in order (PumpSilent: pump-1's, not the selector watch's).

    Without an alerting config each alert is its own incident: its page reads `[FIRING:1] PumpSilent device=pump-1 …`.
    """
    def about(text: str) -> bool:
        return f"] {alertname}" in text and (alertname != "PumpSilent" or "device=pump-1" in text)
    return [p["text"].split("]")[0].lstrip("[").split(":")[0] for p in receiver.pages if about(p["text"])]


def test_every_rule_type_from_the_api_pages_once_firing_and_once_resolved(vigil_env, pipeline):
    ports, receiver = pipeline
    api = api_client(vigil_env, ports["api"], timeout=20)
    for rule in RULES:
        assert api.post("/api/v1/rules", json=rule).status_code == 201
    # A change is a new version, and the alerts it raises say so.
    changed = api.put("/api/v1/rules/pay-latency", json={**RULES[1], "threshold": 120})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    time.sleep(3)  # the worker reads the rules topic continuously; give it a moment

    client = InfluxDBClient(url=f"http://127.0.0.1:{ports['ingest']}", token="t", org="o")
    write = client.write_api(write_options=SYNCHRONOUS)
    t0 = int(time.time() * 1000) - 600_000
    lines = []
    # rate: +100 per 10 s (10/s) for a minute, then flat.
    lines += [f"requests,route=/pay total={100 * min(i, 6)} {t0 + i * 10_000}" for i in range(13)]
    # avg_over_time over 30 s: 50, then 200s (avg > 120), then 10s.
    lines += [f"latency,route=/pay ms={v} {t0 + i * 10_000}" for i, v in enumerate([50, 200, 200, 200, 10, 10, 10, 10])]
    # anomaly: 40 quiet samples, a spike, quiet again.
    lines += [f"queue,name=jobs depth={10 + i % 3} {t0 + i * 5_000}" for i in range(40)]
    lines += [f"queue,name=jobs depth=100 {t0 + 200_000}", f"queue,name=jobs depth=11 {t0 + 205_000}"]
    write.write(bucket="b", record=lines, write_precision="ms")
    # absent: pump-1 reports once (wall clock), goes silent for longer than 3 s, then reports again.
    write.write(bucket="b", record=[f"pump,device=pump-1 pressure=2.5 {int(time.time() * 1000)}"],
                write_precision="ms")
    wait_until(lambda: pages_of(receiver, "PumpSilent") == ["FIRING"], timeout=30, message="PumpSilent firing")
    write.write(bucket="b", record=[f"pump,device=pump-1 pressure=2.6 {int(time.time() * 1000)}"],
                write_precision="ms")

    expected = {"PayRate", "PayLatency", "QueueAnomaly", "PumpSilent"}
    def first_two(name: str) -> list[str]:
        # pump-1 goes silent again after its second sample, so PumpSilent rightly fires again 3 s later.
        pages = pages_of(receiver, name)
        return pages[:2] if name == "PumpSilent" else pages

    wait_until(lambda: all(first_two(name) == ["FIRING", "RESOLVED"] for name in expected), timeout=60,
               message=f"a FIRING and a RESOLVED page for each of {sorted(expected)}; got "
                       f"{[p['text'][:60] for p in receiver.pages]}")
    time.sleep(3)
    for name in expected:
        assert first_two(name) == ["FIRING", "RESOLVED"], (name, [p["text"][:200] for p in receiver.pages
                                                                  if name in p["text"]])

    def resolved_rows():
        with psycopg.connect(vigil_env.dsn) as conn:
            rows = conn.execute("SELECT alertname, rule_id, rule_version, labels FROM alert_events "
                                "WHERE status = 'RESOLVED'").fetchall()
        return rows if {r[0] for r in rows} >= expected else None
    rows = {r[0]: r for r in wait_until(resolved_rows, timeout=30, message="every alert's resolution in Postgres")}
    assert rows["PayLatency"][1:3] == ("pay-latency", 2)
    assert rows["PayRate"][2] == 1 and rows["PumpSilent"][3]["device"] == "pump-1"
    client.close()
