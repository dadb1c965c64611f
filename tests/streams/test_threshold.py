"""Threshold rules with `for`, evaluated on event time (no clock, no servers)."""

from __future__ import annotations

from schemas.series_id import series_id
from streams.rules import Rule
from streams.threshold import alert_fingerprint, step

RULE = Rule.model_validate({"id": "high-cpu", "alert": "HighCPU", "metric": "cpu", "op": ">", "threshold": 90,
                            "for": "30s", "labels": {"severity": "page", "team": "{{ $labels.host }}-ops"},
                            "annotations": {"summary": "{{ $labels.host }} at {{ $value }}"}})


def sample(value: float, ts_s: float, host: str = "web-1") -> dict:
    labels = {"host": host}
    return {"series_id": series_id("cpu", labels), "name": "cpu", "labels": labels, "value": value,
            "timestamp_ms": int(ts_s * 1000)}


def run(rule: Rule, samples: list[dict]) -> list[dict]:
    """Feed samples in order, keeping state like the Faust table does; return emitted events."""
    state, events = None, []
    for s in samples:
        result = step(rule, s, state, alert_fingerprint(rule, s))
        if result.state is not None:
            state = result.state
        if result.event is not None:
            events.append(result.event)
    return events


def test_fires_only_after_condition_held_for_the_duration():
    events = run(RULE, [sample(95, 0), sample(96, 10), sample(97, 29.9)])
    assert events == []
    events = run(RULE, [sample(95, 0), sample(96, 10), sample(97, 30)])
    assert [(e["status"], e["sequence"], e["starts_at_ms"]) for e in events] == [("FIRING", 1, 0)]


def test_fired_event_carries_templated_labels_annotations_and_identity():
    (event,) = run(RULE, [sample(95, 0), sample(97.5, 31)])
    assert event["labels"] == {"host": "web-1", "severity": "page", "team": "web-1-ops", "alertname": "HighCPU"}
    assert event["annotations"] == {"summary": "web-1 at 97.5"}
    assert event["rule_id"] == "high-cpu" and event["value"] == 97.5
    assert event["event_time_ms"] == 31_000


def test_dip_below_threshold_restarts_the_for_clock():
    events = run(RULE, [sample(95, 0), sample(50, 20), sample(95, 25), sample(95, 50)])
    assert events == []
    events = run(RULE, [sample(95, 0), sample(50, 20), sample(95, 25), sample(95, 55)])
    assert [e["starts_at_ms"] for e in events] == [25_000]


def test_resolves_once_with_next_sequence_and_end_time():
    events = run(RULE, [sample(95, 0), sample(95, 30), sample(99, 40), sample(10, 50), sample(5, 60)])
    assert [(e["status"], e["sequence"]) for e in events] == [("FIRING", 1), ("RESOLVED", 2)]
    assert events[1]["ends_at_ms"] == 50_000 and events[1]["starts_at_ms"] == 0


def test_refiring_after_resolve_gets_a_new_sequence():
    events = run(RULE, [sample(95, 0), sample(95, 30), sample(1, 40), sample(95, 50), sample(95, 80)])
    assert [(e["status"], e["sequence"]) for e in events] == [("FIRING", 1), ("RESOLVED", 2), ("FIRING", 3)]


def test_a_late_sample_never_flips_an_alert():
    events = run(RULE, [sample(95, 0), sample(95, 30), sample(1, 20)])
    assert [e["status"] for e in events] == ["FIRING"]


def test_zero_for_fires_on_the_first_sample():
    rule = RULE.model_copy(update={"for_s": 0.0})
    assert [e["status"] for e in run(rule, [sample(91, 0)])] == ["FIRING"]


def test_every_operator():
    cases = {">": (91, 90), ">=": (90, 89), "<": (89, 90), "<=": (90, 91), "==": (90, 91), "!=": (91, 90)}
    for op, (fires, quiet) in cases.items():
        rule = RULE.model_copy(update={"op": op, "for_s": 0.0})
        assert len(run(rule, [sample(fires, 0)])) == 1, op
        assert run(rule, [sample(quiet, 0)]) == [], op


def test_series_are_independent_alerts():
    a, b = sample(95, 0, "a"), sample(95, 0, "b")
    assert alert_fingerprint(RULE, a) != alert_fingerprint(RULE, b)
    assert alert_fingerprint(RULE, a) == alert_fingerprint(RULE, sample(1, 99, "a"))
