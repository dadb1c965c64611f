"""The incident processor without Faust: grouping, dedup, silences, inhibition, muting, escalation, commands.

Time is injected (`now`), the config is parsed from the same YAML shape users write, and the
group store is a dict: what a user would see is the Notifications and IncidentEvents that come out.
"""

from __future__ import annotations

import copy

import orjson
import pytest

from schemas.records import AlertEvent, Command
from schemas.series_id import fingerprint
from kernel.alerting.config import parse_alerting_config
from streams.incidents.engine import IncidentEngine
from streams.incidents.inhibit import InhibitIndex
from streams.incidents.memory_store import MemoryStore
from streams.incidents.reasons import Reason

T0 = 1_764_000_000_000
S, M = 1_000, 60_000

BASE = {
    "route": {"receiver": "team", "group_by": ["cluster"], "group_wait": "30s", "group_interval": "5m",
              "repeat_interval": "4h",
              "routes": [{"matchers": ['team="db"'], "receiver": "db-oncall"}]},
    "receivers": [{"name": "team"}, {"name": "db-oncall"}, {"name": "lead"}, {"name": "manager"},
                  {"name": "alice"}, {"name": "bob"}],
    "escalation_policies": [{"name": "default", "escalate_after": "15m", "critical_after": "5m",
                             "escalated_receivers": ["lead"], "critical_receivers": ["manager"]}],
}


class Silences:
    def __init__(self):
        self.active: list[tuple[dict, int, int]] = []  # (label equalities, start, end)

    def silenced_by(self, labels, at_ms):
        return [str(i) for i, (eq, a, b) in enumerate(self.active)
                if a <= at_ms < b and all(labels.get(k) == v for k, v in eq.items())]


def engine(raw=None, silences=None, inhibit=None) -> IncidentEngine:
    config = parse_alerting_config(copy.deepcopy(raw or BASE), "test")
    s = silences or Silences()
    return IncidentEngine(lambda: config, MemoryStore(), 4, inhibit=inhibit, silences=lambda: s)


def alert(name="HighCPU", status="FIRING", seq=1, at=T0, **labels) -> AlertEvent:
    labels = {"alertname": name, **labels}
    return AlertEvent(fingerprint=fingerprint(labels), sequence=seq, status=status, rule_id=name.lower(),
                      rule_version=1, alertname=name, labels=labels, annotations={"summary": f"{name} on {labels}"},
                      value=95.0, series_id=1, starts_at_ms=at, ends_at_ms=at if status == "RESOLVED" else None,
                      event_time_ms=at)


def feed(e: IncidentEngine, events: list[AlertEvent], now: int):
    """Route and group, as the two agents would; returns (notifications, incident events)."""
    outs = []
    for event in events:
        for routed in e.route(event):
            outs += e.on_routed([orjson.loads(orjson.dumps(routed.item))], routed.partition, now)
    return _split(outs)


def tick(e: IncidentEngine, now: int):
    return _split(e.tick(now, {0, 1, 2, 3}))


def _split(outs):
    return [n for o in outs for n in o.notes], [ev for o in outs for ev in o.events]


def command(e, key, action, actor="alice", cid="c1", at=T0):
    return _split(e.on_command(Command(command_id=cid, incident_key=key, action=action, actor=actor, comment="",
                                       issued_at_ms=at), at))


def test_an_alert_storm_of_1000_alerts_in_10_groups_pages_10_times():
    e = engine()
    storm = [alert(cluster=f"c{i % 10}", host=f"h{i}") for i in range(1000)]
    notes, events = feed(e, storm, T0 + 1 * S)
    assert notes == [] and events == []  # group_wait holds the first page
    notes, events = tick(e, T0 + 30 * S)
    assert len(notes) == 10 and {n["receiver"] for n in notes} == {"team"}
    assert sorted(n["group_labels"]["cluster"] for n in notes) == [f"c{i}" for i in range(10)]
    assert all(len(n["alerts"]) == 100 and n["reason"] == Reason.FIRST_NOTIFICATION for n in notes)
    assert [ev["status"] for ev in events] == ["OPEN"] * 10
    assert tick(e, T0 + 31 * S) == ([], [])
    # The same alerts firing again (a replay) is not news.
    assert feed(e, storm, T0 + 40 * S) == ([], [])
    assert tick(e, T0 + 30 * S + 5 * M) == ([], [])


def test_a_new_alert_pages_at_the_next_group_interval_and_a_repeat_after_repeat_interval():
    e = engine()
    feed(e, [alert(cluster="a", host="1")], T0)
    notes, _ = tick(e, T0 + 30 * S)
    key = notes[0]["incident_key"]
    feed(e, [alert(cluster="a", host="2", at=T0 + M)], T0 + M)
    assert tick(e, T0 + 2 * M) == ([], [])  # not before group_interval
    notes, events = tick(e, T0 + 30 * S + 5 * M)
    assert [(n["reason"], n["incident_key"], len(n["alerts"])) for n in notes] == [(Reason.GROUP_CHANGED, key, 2)]
    assert events == []  # still the same open incident
    e.on_command(Command(command_id="x", incident_key=key, action="ACKNOWLEDGE", actor="a", comment="",
                         issued_at_ms=T0 + 6 * M), T0 + 6 * M)  # ack: no escalation, and no repeats
    assert tick(e, T0 + 5 * 3600 * S)[0] == []


def test_repeat_interval_pages_again_while_unacknowledged():
    raw = copy.deepcopy(BASE)
    raw["escalation_policies"][0].update(escalate_after="100h", critical_after="100h")
    e = engine(raw)
    feed(e, [alert(cluster="a")], T0)
    tick(e, T0 + 30 * S)
    reasons = []
    for minute in range(5, 4 * 60 + 11, 5):
        reasons += [n["reason"] for n in tick(e, T0 + 30 * S + minute * M)[0]]
    assert reasons == [Reason.REPEAT_INTERVAL_ELAPSED]


def test_all_alerts_resolved_resolves_the_incident_for_everyone_paged():
    raw = copy.deepcopy(BASE)
    raw["escalation_policies"][0]["critical_after"] = "100h"
    e = engine(raw)
    feed(e, [alert(cluster="a", host="1"), alert(cluster="a", host="2")], T0)
    tick(e, T0 + 30 * S)
    notes, events = tick(e, T0 + 30 * S + 15 * M)  # escalated: lead paged too
    assert [n["receiver"] for n in notes] == ["lead"] and events[0]["status"] == "ESCALATED"
    feed(e, [alert(cluster="a", host="1", status="RESOLVED", seq=2, at=T0 + 16 * M)], T0 + 16 * M)
    notes, _ = tick(e, T0 + 30 * S + 20 * M)
    assert [(n["action"], n["reason"]) for n in notes] == [("TRIGGER", Reason.GROUP_CHANGED)] * 2
    feed(e, [alert(cluster="a", host="2", status="RESOLVED", seq=2, at=T0 + 21 * M)], T0 + 21 * M)
    notes, events = tick(e, T0 + 30 * S + 25 * M)
    assert sorted((n["receiver"], n["action"]) for n in notes) == [("lead", "RESOLVE"), ("team", "RESOLVE")]
    assert [(ev["status"], ev["reason"], ev["previous_status"]) for ev in events] == [
        ("RESOLVED", Reason.ALL_ALERTS_RESOLVED, "ESCALATED")]
    assert tick(e, T0 + 90 * M) == ([], [])  # the group is empty: no more flushes, no escalation


def test_nobody_acks_escalated_then_critical_on_time():
    e = engine()
    feed(e, [alert(cluster="a")], T0)
    notes, events = tick(e, T0 + 30 * S)
    opened = events[0]["event_time_ms"]
    assert tick(e, opened + 15 * M - 1) == ([], [])
    notes, events = tick(e, opened + 15 * M)
    assert [(ev["status"], ev["event_time_ms"]) for ev in events] == [("ESCALATED", opened + 15 * M)]
    assert [(n["receiver"], n["incident_status"]) for n in notes] == [("lead", "ESCALATED")]
    assert tick(e, opened + 20 * M - 1) == ([], [])
    notes, events = tick(e, opened + 20 * M + 30 * S)  # a late tick still stamps the scheduled time
    assert [(ev["status"], ev["event_time_ms"], ev["severity"]) for ev in events] == [
        ("CRITICAL", opened + 20 * M, "critical")]
    assert [(n["receiver"], n["severity"]) for n in notes] == [("manager", "critical")]
    assert tick(e, opened + 60 * M)[1] == []  # critical is the last level


def test_ack_stops_escalation_and_tells_everyone_paged():
    e = engine()
    feed(e, [alert(cluster="a")], T0)
    notes, events = tick(e, T0 + 30 * S)
    key = events[0]["incident_key"]
    notes, events = command(e, key, "ACKNOWLEDGE", at=T0 + 5 * M)
    assert [(n["receiver"], n["action"]) for n in notes] == [("team", "ACKNOWLEDGE")]
    assert [(ev["status"], ev["actor"], ev["previous_status"]) for ev in events] == [("ACKNOWLEDGED", "alice", "OPEN")]
    assert tick(e, T0 + 2 * 3600 * S)[1] == []  # never escalates
    assert command(e, key, "ACKNOWLEDGE", at=T0 + 6 * M) == ([], [])  # the same command again
    assert command(e, key, "ACKNOWLEDGE", cid="c2", at=T0 + 6 * M) == ([], [])  # already acknowledged


def test_resolve_command_closes_the_incident_and_only_a_new_alert_opens_the_next():
    e = engine()
    feed(e, [alert(cluster="a", host="1")], T0)
    _, events = tick(e, T0 + 30 * S)
    key = events[0]["incident_key"]
    notes, events = command(e, key, "RESOLVE", at=T0 + M)
    assert [n["action"] for n in notes] == ["RESOLVE"] and events[0]["status"] == "RESOLVED"
    assert tick(e, T0 + 30 * M) == ([], [])  # the alert still fires, but it was dealt with
    feed(e, [alert(cluster="a", host="2", at=T0 + 31 * M)], T0 + 31 * M)
    notes, events = tick(e, T0 + 36 * M)
    assert events[0]["status"] == "OPEN" and events[0]["incident_key"] == key.split(".")[0] + f".{T0 + 30 * S + 35 * M}"
    assert command(e, key, "ACKNOWLEDGE", cid="late", at=T0 + 37 * M) == ([], [])  # stale incident


def test_silenced_alerts_dont_page_until_the_silence_ends():
    silences = Silences()
    silences.active.append(({"cluster": "a"}, T0, T0 + 10 * M))
    e = engine(silences=silences)
    feed(e, [alert(cluster="a")], T0)
    assert tick(e, T0 + 30 * S) == ([], [])
    assert e.decisions[Reason.SILENCED] == 1
    notes, events = tick(e, T0 + 30 * S + 10 * M)  # the flush after the silence ended
    assert len(notes) == 1 and events[0]["status"] == "OPEN"


def test_inhibition_suppresses_targets_with_equal_labels_only():
    raw = copy.deepcopy(BASE)
    raw["route"]["group_by"] = ["alertname", "host"]
    raw["inhibit_rules"] = [{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                             "equal": ["host"]}]
    # The worker hands the engine the index its inhibit feed fills (empty at first): feed that one.
    fed = InhibitIndex()
    e = engine(raw, inhibit=fed)
    source = alert("HostDown", severity="critical", host="h1")
    fed.apply(source["fingerprint"], "FIRING", source["labels"])  # the inhibit feed's job
    feed(e, [source, alert("HighLatency", severity="warning", host="h1"),
             alert("HighLatency", severity="warning", host="h2")], T0)
    notes, _ = tick(e, T0 + 30 * S)
    assert sorted((n["alerts"][0]["alertname"], n["group_labels"]["host"]) for n in notes) == [
        ("HighLatency", "h2"), ("HostDown", "h1")]
    assert e.decisions[Reason.INHIBITED] == 1
    fed.apply(source["fingerprint"], "RESOLVED", source["labels"])
    notes, _ = tick(e, T0 + 30 * S + 5 * M)
    assert [n["alerts"][0]["alertname"] for n in notes] == ["HighLatency"]


def test_continue_and_child_routes_page_their_own_receivers():
    raw = copy.deepcopy(BASE)
    raw["route"]["routes"] = [{"matchers": ['team="db"'], "receiver": "db-oncall", "continue": True},
                              {"matchers": ['severity="critical"'], "receiver": "lead"}]
    e = engine(raw)
    feed(e, [alert(team="db", severity="critical", cluster="a"), alert(team="web", cluster="a")], T0)
    notes, _ = tick(e, T0 + 30 * S)
    assert sorted(n["receiver"] for n in notes) == ["db-oncall", "lead", "team"]


def test_a_muted_route_does_not_page_in_its_time_interval():
    raw = copy.deepcopy(BASE)
    raw["time_intervals"] = [{"name": "always", "time_intervals": [{"times": [{"start_time": "00:00",
                                                                               "end_time": "24:00"}]}]}]
    raw["route"]["routes"] = [{"matchers": ['env="staging"'], "receiver": "team",
                               "mute_time_intervals": ["always"]}]
    e = engine(raw)
    feed(e, [alert(env="staging"), alert(env="prod")], T0)
    notes, _ = tick(e, T0 + 30 * S)
    assert [n["alerts"][0]["labels"]["env"] for n in notes] == ["prod"]
    assert e.decisions[Reason.MUTED] == 1


def test_the_on_call_member_of_a_schedule_is_paged():
    raw = copy.deepcopy(BASE)
    raw["schedules"] = [{"name": "primary", "layers": [{"start": "2025-01-06T00:00:00Z", "rotation": "7d",
                                                        "members": ["alice", "bob"]}]}]
    raw["route"]["receiver"] = "primary"
    e = engine(raw)
    feed(e, [alert(cluster="a")], T0)
    notes, events = tick(e, T0 + 30 * S)
    on_call = e.context(T0).config.resolve_target("primary", T0 + 30 * S)
    assert on_call in ("alice", "bob") and [n["receiver"] for n in notes] == [on_call]
    assert events[0]["receiver"] == "primary"


def test_a_replay_after_a_crash_makes_identical_records():
    def run(e):
        feed(e, [alert(cluster="a", host="1")], T0 + 2 * S)
        first = tick(e, T0 + 33 * S)
        feed(e, [alert(cluster="a", host="2", at=T0 + M)], T0 + 61 * S)
        return first, tick(e, T0 + 40 * M)

    a, b = engine(), engine()
    first_a, later_a = run(a)
    first_b, later_b = run(b)

    def strip(records):  # created_at is the wall clock of the worker; everything else is logical
        return [{k: v for k, v in r.items() if k != "created_at_ms"} for r in records]

    for x, y in ((first_a, first_b), (later_a, later_b)):
        assert strip(x[0]) == strip(y[0]) and x[1] == y[1]
    assert later_a[1][0]["status"] == "ESCALATED"


@pytest.mark.parametrize("group_wait", ["0s"])
def test_group_wait_zero_pages_as_the_alert_arrives(group_wait):
    raw = copy.deepcopy(BASE)
    raw["route"]["group_wait"] = group_wait
    e = engine(raw)
    notes, events = feed(e, [alert(cluster="a")], T0)
    assert len(notes) == 1 and events[0]["status"] == "OPEN"
