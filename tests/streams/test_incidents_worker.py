"""The incident processor in a real worker: escalation timers and acknowledgements survive a worker kill."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from kernel.kafka import make_producer
from schemas import codec
from schemas.records import Command
from schemas.series_id import incident_partition
from tests.harness import free_port
from infra.topic_reader import TopicReader
from tests.kafka_io import produce_samples, sample

pytestmark = pytest.mark.integration

RULES = """
rules:
  - {id: hot, alert: Hot, metric: temp_celsius, op: ">", threshold: 30}
"""
ALERTING = """
route:
  receiver: pager
  group_by: [room]
  group_wait: 0s
  group_interval: 1s
  escalation_policy: quick
receivers: [{name: pager}, {name: lead}, {name: manager}]
escalation_policies:
  - {name: quick, escalate_after: 12s, critical_after: 4s, escalated_receivers: [lead], critical_receivers: [manager]}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "alerting.yaml").write_text(ALERTING)
    return tmp_path


def start_worker(vigil_env, files, name: str):
    port = free_port()
    return vigil_env.start("streams", health_port=port, name=name, extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_RULES_FILE": str(files / "rules.yaml"),
        "VIGIL_ALERTING_CONFIG": str(files / "alerting.yaml"),
        "VIGIL_DATA_DIR": str(vigil_env.stack.state_dir / "faust" / name)})


def test_escalation_timers_and_acks_survive_a_worker_kill(vigil_env, files):
    settings = vigil_env.settings
    first = start_worker(vigil_env, files, "w1")
    now = int(time.time() * 1000)
    produce_samples(settings, [sample("temp_celsius", {"room": room}, 40, now) for room in ("lab", "office")])
    incidents = TopicReader(settings, settings.topics.incidents, codec.incident_event())
    opened = {e["group_labels"]["room"]: e for e in incidents.wait_for(lambda r: len(r) >= 2, what="two incidents")}
    assert {e["status"] for e in opened.values()} == {"OPEN"}

    # The office incident is acknowledged; the worker is killed before either timer runs out.
    office = opened["office"]["incident_key"]
    producer = make_producer(settings)
    producer.produce(settings.topics.commands, codec.command().encode(Command(
        command_id=str(uuid.uuid4()), incident_key=office, action="ACKNOWLEDGE", actor="alice", comment="",
        issued_at_ms=int(time.time() * 1000))), key=office.encode(),
        partition=incident_partition(office, settings.metrics_partitions))
    producer.flush(10)
    acked = incidents.wait_for(lambda r: len(r) >= 3, what="the acknowledgement")[2]
    assert (acked["incident_key"], acked["status"], acked["actor"]) == (office, "ACKNOWLEDGED", "alice")
    time.sleep(2)  # past a commit: the acknowledged state is in the changelog
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(10)

    # A successor restores the groups and escalates the lab incident on the policy's times, once.
    start_worker(vigil_env, files, "w2")
    later = incidents.wait_for(lambda r: len(r) >= 5, timeout=60, what="escalated and critical after the restart")
    lab = opened["lab"]
    assert [(e["incident_key"], e["status"], e["event_time_ms"] - lab["event_time_ms"]) for e in later[3:]] == [
        (lab["incident_key"], "ESCALATED", 12_000), (lab["incident_key"], "CRITICAL", 16_000)]
    assert incidents.read_for(4) == later  # nothing more: no second escalation, nothing for the acknowledged one
    notes = TopicReader(settings, settings.topics.notifications, codec.notification())
    notes.wait_for(lambda r: len(r) >= 5, what="five pages")
    pages = notes.read_for(2)
    assert sorted((n["dedup_key"] == office, n["receiver"], n["action"], n["incident_status"]) for n in pages) == [
        (False, "lead", "TRIGGER", "ESCALATED"), (False, "manager", "TRIGGER", "CRITICAL"),
        (False, "pager", "TRIGGER", "OPEN"),
        (True, "pager", "ACKNOWLEDGE", "ACKNOWLEDGED"), (True, "pager", "TRIGGER", "OPEN")]
    incidents.close()
    notes.close()
