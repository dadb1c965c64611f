"""The embedded broker restarts (it keeps everything in memory) under a running pipeline: Vigil heals alone.

What the docs promise after a broker restart: ingest takes writes again without a restart; the rules
and silences topics are refilled from Postgres; a still-firing alert stays FIRING without a second
page, also after its worker is killed later (the worker wrote its states to the new changelogs); new
alerts page and resolve once; every process is healthy again.
"""

from __future__ import annotations

import time

import pytest

from schemas import codec
from tests.faults.conftest import SERVICES, Pipeline, running_pipeline, write, written
from tests.harness import api_client, wait_until
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration

RULE = {"id": "cpu-hot", "alert": "HotCPU", "metric": "cpu_usage", "op": ">", "threshold": 90,
        "labels": {"severity": "page"}, "annotations": {"summary": "CPU on {{ $labels.host }} is {{ $value }}"}}


@pytest.fixture
def pipeline(broker_env, tmp_path):
    """Every Vigil process on the test's own broker, paging a local Slack receiver."""
    yield from running_pipeline(broker_env, tmp_path / "faust")


def test_a_broker_restart_heals_without_a_manual_step_and_pages_nothing_twice(broker_env, own_broker,
                                                                             pipeline: Pipeline):
    api = api_client(broker_env, pipeline.ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    silence = api.post("/api/v1/silences", json={"matchers": ['host="quiet"'], "duration": "1h",
                                                  "created_by": "ops", "comment": "maintenance"})
    assert silence.status_code == 201, silence.text
    ingest = pipeline.client("ingest")
    time.sleep(2)  # the worker reads the rules topic continuously
    wait_until(lambda: write(ingest, ["cpu,host=a usage=95"]) == 204 and pipeline.pages("a") == ["FIRING"],
               timeout=60, interval=1, message="host a paged FIRING before the restart")

    own_broker.restart()
    restarted = time.monotonic()
    # While the broker has no topics, ingest must not claim to be healthy; then it heals by itself.
    healed = wait_until(lambda: write(ingest, ["cpu,host=a usage=96"]) == 204, timeout=60, interval=1,
                        message="ingest takes writes again after the broker restart")
    assert healed
    print(f"ingest took writes again {time.monotonic() - restarted:.1f} s after the broker was back")
    assert pipeline.health("ingest") == 200

    # The compacted topics are refilled from Postgres: a worker started now would know the rule and the silence.
    settings = broker_env.settings
    TopicReader(settings, settings.topics.rules, codec.rule()).wait_for(
        lambda records: any(r["id"] == "cpu-hot" for r in records), timeout=30, what="the rule on the new rules topic")
    TopicReader(settings, settings.topics.silences, codec.silence()).wait_for(
        lambda records: any(r["id"] == silence.json()["id"] for r in records), timeout=30,
        what="the silence on the new silences topic")

    # The pipeline pages again: a new alert fires and pages once; the silenced host never pages.
    wait_until(lambda: write(ingest, ["cpu,host=b usage=97", "cpu,host=quiet usage=99"]) == 204
               and pipeline.pages("b") == ["FIRING"], timeout=90, interval=2,
               message=f"host b paged after the restart; pages: {pipeline.page_log()}")
    print(f"host b paged {time.monotonic() - restarted:.1f} s after the broker was back")
    # The states were written to the new broker's changelogs: a worker killed now and started again
    # takes over with them (a still firing: no second page; b resolves once).
    pipeline.kill("streams")
    pipeline.start("streams")
    written(ingest, ["cpu,host=a usage=97"])
    for host in ("a", "b"):
        written(ingest, [f"cpu,host={host} usage=10"])
    wait_until(lambda: pipeline.pages("a")[-1:] == ["RESOLVED"] and pipeline.pages("b")[-1:] == ["RESOLVED"],
               timeout=60, interval=1, message=f"a and b resolved; pages: {pipeline.page_log()}")
    time.sleep(3)
    assert pipeline.pages("a") == ["FIRING", "RESOLVED"]  # firing across the restart: paged once
    assert pipeline.pages("b") == ["FIRING", "RESOLVED"]
    assert pipeline.pages("quiet") == []
    for name in SERVICES:
        assert pipeline.health(name) == 200, name


def test_a_whole_stack_restart_keeps_a_firing_alert_firing_without_a_second_page(broker_env, own_broker,
                                                                                 pipeline: Pipeline):
    api = api_client(broker_env, pipeline.ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    ingest = pipeline.client("ingest")
    time.sleep(2)
    wait_until(lambda: write(ingest, ["cpu,host=a usage=95"]) == 204 and pipeline.pages("a") == ["FIRING"],
               timeout=60, interval=1, message="host a paged FIRING")

    # Ctrl-C of `vigil up`: every process stops cleanly, then the broker; all start again, the broker empty.
    for name in reversed(SERVICES):
        pipeline.stop(name)
    own_broker.restart()
    for name in SERVICES:
        pipeline.start(name)

    written(ingest, ["cpu,host=a usage=97"])  # still firing: no new page
    time.sleep(3)
    written(ingest, ["cpu,host=a usage=10"])
    wait_until(lambda: pipeline.pages("a")[-1:] == ["RESOLVED"], timeout=60, interval=1,
               message=f"a resolved; pages: {pipeline.page_log()}")
    time.sleep(3)
    assert pipeline.pages("a") == ["FIRING", "RESOLVED"]
