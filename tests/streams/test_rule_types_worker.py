"""Rules from the rules topic and every stateful rule type, through real workers and the real broker."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest

from kernel.kafka import make_producer
from schemas import codec
from streams.evaluate import alert_key, new_state, observe
from kernel.rules import Rule
from tests.harness import free_port
from infra.topic_reader import TopicReader
from tests.kafka_io import produce_samples, sample

pytestmark = pytest.mark.integration


def start_worker(vigil_env, name: str, **env: str):
    port = free_port()
    return vigil_env.start("streams", health_port=port, name=name, extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_DATA_DIR": str(vigil_env.stack.state_dir / "faust" / name),
        **env})


def publish_rule(settings, spec: dict, version: int, deleted: bool = False) -> None:
    """A rule version on the rules topic, as the API's rule store publishes it."""
    record = {"id": spec["id"], "version": version, "deleted": deleted, "spec": json.dumps(spec),
              "updated_at_ms": int(time.time() * 1000), "updated_by": "test"}
    producer = make_producer(settings)
    producer.produce(settings.topics.rules, codec.rule().encode(record), key=spec["id"].encode())
    assert producer.flush(15) == 0


def alerts_reader(settings) -> TopicReader:
    return TopicReader(settings, settings.topics.alerts, codec.alert_event())


def transitions(records, rule_id=None):
    return [(e["status"], e["sequence"]) for e in records if rule_id is None or e["rule_id"] == rule_id]


def test_a_rule_saved_on_the_topic_applies_without_a_restart_and_its_deletion_resolves(vigil_env):
    settings = vigil_env.settings
    start_worker(vigil_env, "w1")
    spec = {"id": "door", "alert": "DoorOpen", "metric": "door_open", "op": "==", "threshold": 1,
            "matchers": ['room=~"lab|office"'], "annotations": {"summary": "{{ $labels.room }} door open"}}
    publish_rule(settings, spec, version=1)
    alerts = alerts_reader(settings)
    t0 = int(time.time() * 1000)
    deadline = time.monotonic() + 30
    while not alerts.records:  # the worker picks the rule up within seconds: keep sending until it does
        assert time.monotonic() < deadline, "the rule from the topic never applied"
        produce_samples(settings, [sample("door_open", {"room": "lab"}, 1, t0 + int(time.monotonic() * 1000))])
        alerts.read_for(1)
    (fired,) = alerts.records[:1]
    assert (fired["status"], fired["rule_id"], fired["rule_version"]) == ("FIRING", "door", 1)
    assert fired["annotations"]["summary"] == "lab door open"
    publish_rule(settings, {**spec, "threshold": 5}, version=2)  # a changed rule keeps the alert's state
    publish_rule(settings, {**spec, "threshold": 5}, version=3, deleted=True)
    resolved = alerts.wait_for(lambda r: len(r) >= 2, what="RESOLVED after the rule was deleted")[1]
    assert (resolved["status"], resolved["sequence"], resolved["fingerprint"]) == ("RESOLVED", 2, fired["fingerprint"])
    produce_samples(settings, [sample("door_open", {"room": "lab"}, 1, int(time.time() * 1000) + 120_000)])
    assert len(alerts.read_for(3)) == 2  # a deleted rule evaluates nothing


def test_absence_fires_when_nothing_ever_arrives_and_per_series_and_per_device(vigil_env):
    settings = vigil_env.settings
    base = {"alert": "Silent", "type": "absent", "absent_for": "3s", "labels": {"severity": "page"}}
    publish_rule(settings, {**base, "id": "ghost", "metric": "ghost_up", "match": {"job": "ghost"}, "by": []}, 1)
    publish_rule(settings, {**base, "id": "per-series", "metric": "heartbeat"}, 1)
    publish_rule(settings, {**base, "id": "per-device", "metric": "reading", "by": ["device"]}, 1)
    start_worker(vigil_env, "w1")
    alerts = alerts_reader(settings)
    now = int(time.time() * 1000)
    produce_samples(settings, [sample("heartbeat", {"host": "a"}, 1, now), sample("heartbeat", {"host": "b"}, 1, now),
                               sample("reading", {"device": "pump-1", "sensor": "p"}, 1, now),
                               sample("reading", {"device": "pump-1", "sensor": "t"}, 1, now)])
    # 'ghost' never had a sample; heartbeat a/b and pump-1 stop after one.
    alerts.wait_for(lambda r: len(r) >= 4, timeout=30, what="four absence alerts")
    alerts.read_for(2)
    firing = {(e["rule_id"], tuple(sorted((k, v) for k, v in e["labels"].items() if k not in ("alertname", "severity"))))
              for e in alerts.records if e["status"] == "FIRING"}
    assert firing == {("ghost", (("job", "ghost"),)), ("per-series", (("host", "a"),)),
                      ("per-series", (("host", "b"),)), ("per-device", (("device", "pump-1"),))}
    produce_samples(settings, [sample("ghost_up", {"job": "ghost", "instance": "x"}, 1, int(time.time() * 1000))])
    resolved = alerts.wait_for(lambda r: any(e["status"] == "RESOLVED" for e in r), what="ghost resolved")
    assert [e["rule_id"] for e in resolved if e["status"] == "RESOLVED"] == ["ghost"]
    assert sum(e["status"] == "FIRING" for e in alerts.read_for(3)) == 4  # each fired once


def test_worker_killed_during_a_window_the_other_fires_on_time_once(vigil_env):
    settings = vigil_env.settings
    spec = {"id": "slow", "alert": "Slow", "metric": "latency_ms", "type": "avg_over_time", "window": "5m",
            "op": ">", "threshold": 100}
    publish_rule(settings, spec, 1)
    env = {"VIGIL_STATE_CHECKPOINT_S": "0"}
    first = start_worker(vigil_env, "w1", **env)
    t0 = int(time.time() * 1000)
    labels = {"route": "/pay"}
    produce_samples(settings, [sample("latency_ms", labels, v, t0 + i * 10_000) for i, v in enumerate([50, 60, 170])])
    changelog = TopicReader(settings, f"{settings.topic_prefix}-streams-alert-state-changelog", _Json())
    changelog.wait_for(lambda r: any(v and len(v.get("w", [])) == 3 for v in r), what="3-sample window checkpoint")
    changelog.close()
    start_worker(vigil_env, "w2", **env)  # joins the group; takes over everything once w1 is gone
    first.popen.send_signal(signal.SIGKILL)
    first.popen.wait(10)
    # avg of 50, 60, 170 is 93.3; with 160 it is 110: fires only if the three earlier samples survived.
    produce_samples(settings, [sample("latency_ms", labels, 160, t0 + 30_000)])
    alerts = alerts_reader(settings)
    (fired,) = alerts.wait_for(lambda r: len(r) >= 1, timeout=90, what="FIRING after the restart")
    assert fired["event_time_ms"] == t0 + 30_000 and fired["value"] == pytest.approx(110)
    assert transitions(alerts.read_for(3)) == [("FIRING", 1)]


def test_two_workers_give_what_one_evaluation_gives(vigil_env):
    settings = vigil_env.settings
    specs = [{"id": "hot", "alert": "Hot", "metric": "temp", "op": ">", "threshold": 30, "for": "20s"},
             {"id": "rising", "alert": "Rising", "metric": "temp", "type": "deriv", "window": "1m", "op": ">",
              "threshold": 0.2},
             {"id": "peak", "alert": "Peak", "metric": "temp", "type": "max_over_time", "window": "30s",
              "op": ">=", "threshold": 39}]
    for spec in specs:
        publish_rule(settings, spec, 1)
    start_worker(vigil_env, "w1")
    start_worker(vigil_env, "w2")
    t0 = int(time.time() * 1000)
    samples = [sample("temp", {"room": f"r{room}"}, 20 + ((room * 7 + step * 3) % 23), t0 + step * 10_000)
               for step in range(12) for room in range(16)]
    produce_samples(settings, samples)
    expected = _evaluate_in_process([Rule.model_validate(s) for s in specs], samples)
    assert len(expected) > 10
    alerts = alerts_reader(settings)
    alerts.wait_for(lambda r: len(r) >= len(expected), timeout=60, what=f"{len(expected)} transitions")
    got = {(e["fingerprint"], e["sequence"], e["status"], e["event_time_ms"]) for e in alerts.read_for(3)}
    assert got == expected and len(alerts.records) == len(expected)


def _evaluate_in_process(rules: list[Rule], samples: list[dict]) -> set[tuple]:
    """What one evaluation of the samples in order gives (the pure engine, no broker)."""
    states, out = {}, set()
    for s in samples:
        for rule in rules:
            key, fp = alert_key(rule, s["labels"])
            state = states.setdefault(key, new_state(rule))
            _, transition, _ = observe(rule, state, s["timestamp_ms"], s["value"], 30_000)
            if transition:
                out.add((fp, state["life"]["q"], transition, s["timestamp_ms"]))
    return out


class _Json:
    """Decoder for Faust's JSON table changelog values."""

    @staticmethod
    def decode(value: bytes):
        return json.loads(value) if value else None


def test_idle_alerts_leave_memory_and_a_returning_series_still_alerts(vigil_env):
    settings = vigil_env.settings
    publish_rule(settings, {"id": "hot", "alert": "Hot", "metric": "temp", "op": ">", "threshold": 30}, 1)
    port = free_port()
    vigil_env.start("streams", health_port=port, name="w1", extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_DATA_DIR": str(vigil_env.stack.state_dir / "faust" / "idle"),
        "VIGIL_STATE_IDLE_S": "60"})
    t0 = int(time.time() * 1000) - 600_000
    # 50 rooms report once; then only room 0 goes on for two more (event-time) minutes.
    produce_samples(settings, [sample("temp", {"room": f"r{i}"}, 20, t0) for i in range(50)])
    produce_samples(settings, [sample("temp", {"room": "r0"}, 20, t0 + s * 1000) for s in range(10, 130, 10)])

    def evicted() -> float:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("vigil_streams_states_evicted_total"))
    deadline = time.monotonic() + 30
    while evicted() < 49:
        assert time.monotonic() < deadline, f"only {evicted():.0f} of 49 idle alert states were evicted"
        time.sleep(0.5)
    produce_samples(settings, [sample("temp", {"room": "r7"}, 35, t0 + 131_000)])
    alerts = alerts_reader(settings)
    (fired,) = alerts.wait_for(lambda r: len(r) >= 1, what="r7 firing after its state was evicted")
    assert (fired["status"], fired["labels"]["room"], fired["event_time_ms"]) == ("FIRING", "r7", t0 + 131_000)
