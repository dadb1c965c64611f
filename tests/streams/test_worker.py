"""The Faust worker against the real broker: alerts fire and resolve, and survive a worker kill."""

from __future__ import annotations

import signal
import time

import pytest

from schemas import codec
from tests.harness import free_port
from infra.topic_reader import TopicReader
from tests.kafka_io import produce_samples, sample

pytestmark = pytest.mark.integration

RULES = """
rules:
  - id: hot
    alert: Hot
    metric: temp_celsius
    op: ">"
    threshold: 30
    for: 60s
    labels: {severity: page}
    annotations: {summary: "{{ $labels.room }} is {{ $value }}C"}
"""


def start_worker(vigil_env, rules_file, name: str):
    port = free_port()
    return vigil_env.start("streams", health_port=port, name=name, extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_RULES_FILE": str(rules_file),
        "VIGIL_DATA_DIR": str(vigil_env.stack.state_dir / "faust" / name)})


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    return path


def test_alert_fires_after_for_and_resolves_with_pages_queued(vigil_env, rules_file):
    start_worker(vigil_env, rules_file, "w1")
    settings = vigil_env.settings
    t0 = int(time.time() * 1000)
    labels = {"room": "lab"}
    produce_samples(settings, [sample("temp_celsius", labels, v, t0 + i * 20_000)
                               for i, v in enumerate([31, 32, 33, 34, 20])])
    alerts = TopicReader(settings, settings.topics.alerts, codec.alert_event())
    events = alerts.wait_for(lambda r: len(r) >= 2, what="FIRING and RESOLVED")
    assert [(e["status"], e["sequence"]) for e in events] == [("FIRING", 1), ("RESOLVED", 2)]
    assert events[0]["starts_at_ms"] == t0 and events[0]["event_time_ms"] == t0 + 60_000
    assert events[0]["annotations"]["summary"] == "lab is 34C"
    assert events[1]["ends_at_ms"] == t0 + 80_000
    # Without an alerting config every alert is its own incident, paged as it fires and as it resolves.
    notes = TopicReader(settings, settings.topics.notifications, codec.notification())
    pages = notes.wait_for(lambda r: len(r) >= 2, what="two notifications")
    incidents = TopicReader(settings, settings.topics.incidents, codec.incident_event())
    opened, closed = incidents.wait_for(lambda r: len(r) >= 2, what="incident opened and resolved")
    assert (opened["status"], closed["status"]) == ("OPEN", "RESOLVED")
    assert [(n["action"], n["dedup_key"], n["alerts"][0]["fingerprint"]) for n in pages] == [
        ("TRIGGER", opened["incident_key"], events[0]["fingerprint"]),
        ("RESOLVE", opened["incident_key"], events[0]["fingerprint"])]
    assert pages[0]["text"] == "lab is 34C" and pages[0]["alerts"][0]["labels"]["room"] == "lab"
    assert alerts.read_for(2) == events  # nothing more
    for reader in (alerts, notes, incidents):
        reader.close()


def test_worker_killed_during_for_still_fires_on_time_once(vigil_env, rules_file):
    settings = vigil_env.settings
    first = start_worker(vigil_env, rules_file, "w1")
    t0 = int(time.time() * 1000)
    labels = {"room": "server-room"}
    produce_samples(settings, [sample("temp_celsius", labels, 35, t0), sample("temp_celsius", labels, 36, t0 + 30_000)])
    # The pending state must be in the table's changelog before the kill, or there is nothing to recover.
    changelog = TopicReader(settings, f"{settings.topic_prefix}-streams-alert-state-changelog", _Json())
    # (Its seal records, {"sealed_at": …}, are no states: streams/state.py.)
    changelog.wait_for(lambda r: any(v and "life" in v and v["life"]["s"] == "pending" for v in r),
                       what="pending state in changelog")
    changelog.close()
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(10)

    start_worker(vigil_env, rules_file, "w2")
    produce_samples(settings, [sample("temp_celsius", labels, 37, t0 + 60_000)])
    alerts = TopicReader(settings, settings.topics.alerts, codec.alert_event())
    events = alerts.wait_for(lambda r: len(r) >= 1, timeout=60, what="FIRING after the restart")
    # Fired at the first sample a full `for` after t0: the pending state (started at t0) survived.
    assert events[0]["status"] == "FIRING" and events[0]["starts_at_ms"] == t0
    assert events[0]["event_time_ms"] == t0 + 60_000
    assert [e["status"] for e in alerts.read_for(4)] == ["FIRING"]  # once
    alerts.close()


class _Json:
    """Decoder for Faust's JSON table changelog values."""

    @staticmethod
    def decode(value: bytes):
        import json

        return json.loads(value) if value else None
