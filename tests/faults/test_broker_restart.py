"""The embedded broker restarts (it keeps everything in memory) under a running pipeline: Vigil heals alone.

What the docs promise after a broker restart: ingest takes writes again without a restart; the rules
and silences topics are refilled from Postgres; a still-firing alert stays FIRING without a second
page, also after its worker is killed later (the worker wrote its states to the new changelogs); new
alerts page and resolve once; every process is healthy again.
"""

from __future__ import annotations

import time

import httpx
import pytest

from infra.demo.receiver import DemoReceiver
from schemas import codec
from tests.harness import api_client, free_port, wait_until
from tests.kafka_io import TopicReader

pytestmark = pytest.mark.integration

RULE = {"id": "cpu-hot", "alert": "HotCPU", "metric": "cpu_usage", "op": ">", "threshold": 90,
        "labels": {"severity": "page"}, "annotations": {"summary": "CPU on {{ $labels.host }} is {{ $value }}"}}
SERVICES = ("api", "ingest", "streams", "sinks", "notifier")


@pytest.fixture
def pipeline(broker_env, tmp_path):
    """Every Vigil process on the test's own broker, paging a local Slack receiver."""
    receiver = DemoReceiver(free_port())
    receiver.start()
    ports = {name: free_port() for name in SERVICES}
    env = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
           "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]), "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]),
           "VIGIL_API_PORT": str(ports["api"]), "VIGIL_DATA_DIR": str(tmp_path / "faust"),
           "VIGIL_SLACK_WEBHOOK_URL": receiver.url}
    processes = {name: broker_env.start(name, health_port=ports[name], extra_env=env) for name in SERVICES}
    yield ports, receiver, processes, env
    receiver.stop()


def pages(receiver: DemoReceiver, host: str) -> list[str]:
    """FIRING/RESOLVED of the pages about one host, in order."""
    return [p["text"].split("]")[0].lstrip("[").split(":")[0] for p in receiver.pages
            if f"host={host}" in p["text"]]


def write(ingest: httpx.Client, lines: list[str]) -> int:
    try:
        return ingest.post("/write", content="\n".join(lines) + "\n", timeout=15).status_code
    except httpx.HTTPError:
        return 0


def written(ingest: httpx.Client, lines: list[str]) -> None:
    """Write as a sender does: a 503 (a worker still taking over: ingest sheds load) is retried, then 204."""
    wait_until(lambda: write(ingest, lines) == 204, timeout=60, interval=1, message=f"{lines} written")


def health(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def test_a_broker_restart_heals_without_a_manual_step_and_pages_nothing_twice(broker_env, own_broker, pipeline):
    ports, receiver, processes, env = pipeline
    api = api_client(broker_env, ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    silence = api.post("/api/v1/silences", json={"matchers": ['host="quiet"'], "duration": "1h",
                                                  "created_by": "ops", "comment": "maintenance"})
    assert silence.status_code == 201, silence.text
    ingest = httpx.Client(base_url=f"http://127.0.0.1:{ports['ingest']}")
    time.sleep(2)  # the worker reads the rules topic continuously
    wait_until(lambda: write(ingest, ["cpu,host=a usage=95"]) == 204 and pages(receiver, "a") == ["FIRING"],
               timeout=60, interval=1, message="host a paged FIRING before the restart")

    own_broker.restart()
    restarted = time.monotonic()
    # While the broker has no topics, ingest must not claim to be healthy; then it heals by itself.
    healed = wait_until(lambda: write(ingest, ["cpu,host=a usage=96"]) == 204, timeout=60, interval=1,
                        message="ingest takes writes again after the broker restart")
    assert healed
    print(f"ingest took writes again {time.monotonic() - restarted:.1f} s after the broker was back")
    assert health(ports["ingest"]) == 200

    # The compacted topics are refilled from Postgres: a worker started now would know the rule and the silence.
    settings = broker_env.settings
    TopicReader(settings, settings.topics.rules, codec.rule()).wait_for(
        lambda records: any(r["id"] == "cpu-hot" for r in records), timeout=30, what="the rule on the new rules topic")
    TopicReader(settings, settings.topics.silences, codec.silence()).wait_for(
        lambda records: any(r["id"] == silence.json()["id"] for r in records), timeout=30,
        what="the silence on the new silences topic")

    # The pipeline pages again: a new alert fires and pages once; the silenced host never pages.
    wait_until(lambda: write(ingest, ["cpu,host=b usage=97", "cpu,host=quiet usage=99"]) == 204
               and pages(receiver, "b") == ["FIRING"], timeout=90, interval=2,
               message=f"host b paged after the restart; pages: {[p['text'][:50] for p in receiver.pages]}")
    print(f"host b paged {time.monotonic() - restarted:.1f} s after the broker was back")
    # The states were written to the new broker's changelogs: a worker killed now and started again
    # takes over with them (a still firing: no second page; b resolves once).
    processes["streams"].popen.kill()
    processes["streams"].popen.wait()
    broker_env.start("streams", health_port=ports["streams"], extra_env=env)
    written(ingest, ["cpu,host=a usage=97"])
    for host in ("a", "b"):
        written(ingest, [f"cpu,host={host} usage=10"])
    wait_until(lambda: pages(receiver, "a")[-1:] == ["RESOLVED"] and pages(receiver, "b")[-1:] == ["RESOLVED"],
               timeout=60, interval=1, message=f"a and b resolved; pages: {[p['text'][:50] for p in receiver.pages]}")
    time.sleep(3)
    assert pages(receiver, "a") == ["FIRING", "RESOLVED"]  # firing across the restart: paged once
    assert pages(receiver, "b") == ["FIRING", "RESOLVED"]
    assert pages(receiver, "quiet") == []
    for name in SERVICES:
        assert health(ports[name]) == 200, name


def test_a_whole_stack_restart_keeps_a_firing_alert_firing_without_a_second_page(broker_env, own_broker, pipeline):
    ports, receiver, processes, env = pipeline
    api = api_client(broker_env, ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    ingest = httpx.Client(base_url=f"http://127.0.0.1:{ports['ingest']}")
    time.sleep(2)
    wait_until(lambda: write(ingest, ["cpu,host=a usage=95"]) == 204 and pages(receiver, "a") == ["FIRING"],
               timeout=60, interval=1, message="host a paged FIRING")

    # Ctrl-C of `vigil up`: every process stops cleanly, then the broker; all start again, the broker empty.
    for name in reversed(SERVICES):
        processes[name].stop(timeout=20)
    own_broker.restart()
    for name in SERVICES:
        broker_env.start(name, health_port=ports[name], extra_env=env)

    written(ingest, ["cpu,host=a usage=97"])  # still firing: no new page
    time.sleep(3)
    written(ingest, ["cpu,host=a usage=10"])
    wait_until(lambda: pages(receiver, "a")[-1:] == ["RESOLVED"], timeout=60, interval=1,
               message=f"a resolved; pages: {[p['text'][:50] for p in receiver.pages]}")
    time.sleep(3)
    assert pages(receiver, "a") == ["FIRING", "RESOLVED"]
