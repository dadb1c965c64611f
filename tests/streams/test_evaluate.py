"""Every rule type evaluated on event time, one sample at a time (no clock, no servers)."""

from __future__ import annotations

import math
import random

import pytest

from schemas.series_id import series_id
from streams import absence, windows
from streams.evaluate import Outcome, adopt, alert_key, new_state, observe, sample_event
from kernel.rules import Rule

RULE = Rule.model_validate({"id": "high-cpu", "alert": "HighCPU", "metric": "cpu", "op": ">", "threshold": 90,
                            "for": "30s", "labels": {"severity": "page", "team": "{{ $labels.host }}-ops"},
                            "annotations": {"summary": "{{ $labels.host }} at {{ $value }}"}})


def sample(value: float, ts_s: float, host: str = "web-1") -> dict:
    labels = {"host": host}
    return {"series_id": series_id("cpu", labels), "name": "cpu", "labels": labels, "value": value,
            "timestamp_ms": int(ts_s * 1000)}


def rule_of(**fields) -> Rule:
    return Rule.model_validate({"id": "r", "alert": "A", "metric": "m", **fields})


def run(rule: Rule, samples: list[dict], lateness_ms: int = 30_000) -> list[dict]:
    """Feed samples in order, keeping one state per series as the worker does; return the events."""
    states, events = {}, []
    for s in samples:
        key, fp = alert_key(rule, s["labels"])
        state = states.setdefault(key, new_state(rule))
        _, transition, value = observe(rule, state, s["timestamp_ms"], s["value"], lateness_ms)
        if transition is not None:
            events.append(sample_event(rule, fp, s, state, transition, value))
    return events


def alert_fingerprint(rule: Rule, s: dict) -> str:
    return alert_key(rule, s["labels"])[1]


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


def series(values_by_second: list[tuple[float, float]], name: str = "m", **labels) -> list[dict]:
    labels = labels or {"host": "web-1"}
    return [{"series_id": series_id(name, labels), "name": name, "labels": labels, "value": v,
             "timestamp_ms": int(t * 1000)} for t, v in values_by_second]


def test_keep_firing_for_holds_the_alert_through_a_short_dip():
    # As Prometheus' KeepFiringSince: the 30 s run from the first sample where the condition stopped holding (30 s).
    rule = RULE.model_copy(update={"for_s": 0.0, "keep_firing_for_s": 30.0})
    events = run(rule, [sample(95, 0), sample(10, 10), sample(95, 20), sample(10, 30), sample(10, 59.9),
                        sample(10, 60)])
    assert [(e["status"], e["event_time_ms"]) for e in events] == [("FIRING", 0), ("RESOLVED", 60_000)]


def test_rate_extrapolates_to_the_window_like_prometheus():
    # A counter growing 10/s scraped every 15 s: rate(x[1m]) is 10 (45 s sampled, extrapolated to 60 s).
    rule = rule_of(type="rate", window="1m", op=">", threshold=9.9)
    events = run(rule, series([(t, 10.0 * t) for t in range(0, 91, 15)]))
    assert [e["status"] for e in events] == ["FIRING"] and events[0]["value"] == pytest.approx(10)


def test_increase_adds_back_a_counter_reset():
    # 450 → reset → 75 → 375 in (30 s, 90 s]: Prometheus counts 375 - 450 + 450 = 375 over 45 s → 500 in 1m.
    window = [[45_000, 450.0], [60_000, 75.0], [75_000, 225.0], [90_000, 375.0]]
    assert windows.increase(window, 60) == pytest.approx(500)
    assert windows.rate(window, 60) == pytest.approx(500 / 60)


def test_rate_needs_two_samples_in_the_window():
    rule = rule_of(type="rate", window="1m", threshold=0)
    state = new_state(rule)
    outcome, transition, _ = observe(rule, state, 0, 5.0, 0)
    assert outcome == Outcome.WARMING_UP and transition is None


def test_deriv_is_the_least_squares_slope():
    assert windows.deriv([[0, 1.0], [1000, 3.0], [2000, 5.0]], 60) == pytest.approx(2.0)
    rule = rule_of(type="deriv", window="5m", op="<", threshold=-1)
    events = run(rule, series([(t, 100 - 2 * t) for t in range(0, 20, 5)]))
    assert [e["status"] for e in events] == ["FIRING"] and events[0]["value"] == pytest.approx(-2)


@pytest.mark.parametrize("kind, expected", [("avg_over_time", 2.5), ("min_over_time", 1), ("max_over_time", 4),
                                            ("sum_over_time", 10), ("count_over_time", 4)])
def test_window_aggregates(kind, expected):
    rule = rule_of(type=kind, window="1m", op="==", threshold=expected)
    (event,) = run(rule, series([(0, 1), (10, 2), (20, 3), (30, 4)]))  # fires when the aggregate equals it
    assert event["value"] == pytest.approx(expected)
    state = new_state(rule)
    for s in series([(0, 1), (10, 2), (20, 3), (30, 4)]):
        _, _, value = observe(rule, state, s["timestamp_ms"], s["value"], 0)
    assert value == pytest.approx(expected) and event["status"] == "FIRING"


def test_samples_leave_the_window_as_it_slides():
    rule = rule_of(type="max_over_time", window="30s", op=">", threshold=50)
    events = run(rule, series([(0, 99), (10, 1), (20, 1), (30, 1), (40, 1)]))
    # 99 at t=0 is out of the (t-30s, t] window from t=30 on: resolved there.
    assert [(e["status"], e["event_time_ms"]) for e in events] == [("FIRING", 0), ("RESOLVED", 30_000)]


def test_p95_over_time_interpolates_like_prometheus():
    points = [[i * 1000, float(v)] for i, v in enumerate(range(1, 101))]
    assert windows.quantile(points, 0.95) == pytest.approx(95.05)
    rule = rule_of(type="quantile_over_time", quantile=0.95, window="5m", op=">", threshold=90)
    assert [e["status"] for e in run(rule, series([(i, v) for i, v in enumerate(range(1, 101))]))] == ["FIRING"]


def test_a_late_sample_counts_in_the_window_without_flipping_the_alert():
    rule = rule_of(type="max_over_time", window="1m", op=">", threshold=50)
    state = new_state(rule)
    for t, v in [(0, 1), (20, 1)]:
        observe(rule, state, t * 1000, v, 30_000)
    outcome, transition, _ = observe(rule, state, 10_000, 99, 30_000)  # late, but inside the lateness
    assert outcome == Outcome.LATE and transition is None
    outcome, transition, value = observe(rule, state, 30_000, 1, 30_000)  # the next sample sees it
    assert transition == "FIRING" and value == 99
    assert observe(rule, state, -10_000, 99, 30_000)[0] == Outcome.TOO_LATE
    assert observe(rule, state, 30_000, 5, 30_000)[0] == Outcome.DUPLICATE  # a replay after a restart


def test_anomaly_learns_then_fires_on_a_spike_and_resolves():
    rng = random.Random(7)
    normal = [(t, 50 + rng.gauss(0, 1)) for t in range(200)]
    rule = rule_of(type="anomaly", threshold=6, warmup=50)
    state = new_state(rule)
    outcomes = [observe(rule, state, int(t * 1000), v, 0)[0] for t, v in normal[:50]]
    assert set(outcomes) == {Outcome.WARMING_UP}
    events = run(rule, series(normal + [(200, 80.0), (201, 50.0)]))
    assert [(e["status"], e["event_time_ms"]) for e in events] == [("FIRING", 200_000), ("RESOLVED", 201_000)]
    assert events[0]["value"] > 6  # the score, in standard deviations


def test_absence_fires_at_the_deadline_and_resolves_when_data_returns():
    rule = rule_of(type="absent", absent_for="30s", labels={"severity": "page"})
    state = new_state(rule)
    assert absence.arrived(state, now_ms=1_000, ts=900) is None
    assert absence.due(rule, state, 30_999) is None
    assert absence.due(rule, state, 31_000) == "FIRING" and state["life"]["t"] == 31_000
    assert absence.due(rule, state, 40_000) is None  # once
    assert absence.arrived(state, now_ms=50_000, ts=49_000) == "RESOLVED"
    assert state["life"]["q"] == 2


def test_absence_groups_and_selector_labels():
    by_device = rule_of(type="absent", absent_for="1m", by=["device"], match={"site": "lab"})
    assert absence.group_labels(by_device, {"device": "pump-1", "site": "lab", "x": "y"}) == {"device": "pump-1"}
    selector = rule_of(type="absent", absent_for="1m", by=[], match={"job": "api"}, matchers=['env=~"prod.*"'])
    assert absence.group_labels(selector, {"job": "api", "instance": "a"}) == {"job": "api"}


def test_matchers_select_series_as_prometheus_does():
    rule = rule_of(threshold=1, matchers=['host=~"web-.*"', 'env!="dev"', 'dc!~"eu|us"'])
    assert rule.matches({"host": "web-1", "env": "prod", "dc": "ap"})
    assert not rule.matches({"host": "xweb-1", "env": "prod"})  # anchored
    assert not rule.matches({"host": "web-1", "env": "dev"})
    assert not rule.matches({"host": "web-1", "dc": "eu"})
    assert rule_of(threshold=1, matchers=['missing=""']).matches({"host": "a"})


def test_nan_compares_as_in_prometheus_only_not_equal_holds():
    rule = rule_of(threshold=1, op="!=")
    assert [e["status"] for e in run(rule, series([(0, math.nan)]))] == ["FIRING"]
    assert run(rule_of(threshold=1, op=">"), series([(0, math.nan)])) == []


@pytest.mark.timeout(60)  # with backtracking (Python's re: 1.6 s at 26 a's) this would never end
def test_regex_matchers_are_re2_linear_and_refuse_what_prometheus_refuses():
    rule = rule_of(threshold=1, matchers=['host=~"(a+)+b"'])
    assert not rule.matches({"host": "a" * 10_000 + "c"})
    assert rule_of(threshold=1, matchers=['msg=~"a.b"']).matches({"msg": "a\nb"})  # (?s:…) as Prometheus
    for bad in ['host=~"web(?=-1)"', 'host=~"(a)\\\\1"']:
        with pytest.raises(ValueError, match="invalid regex \\(RE2 syntax, as in Prometheus\\)"):
            rule_of(threshold=1, matchers=[bad])


def test_a_new_rule_version_keeps_the_window_unless_its_shape_changed():
    rule = rule_of(type="max_over_time", window="1m", op=">", threshold=50)
    state = new_state(rule)
    for t, v in [(0, 40.0), (10, 45.0)]:
        observe(rule, state, t * 1000, v, 0)
    raised = rule.model_copy(update={"threshold": 42.0, "version": 2})
    adopt(raised, state)
    assert observe(raised, state, 20_000, 1.0, 0)[1:] == ("FIRING", 45.0)  # the window survived
    wider = raised.model_copy(update={"window_s": 120.0, "version": 3})
    adopt(wider, state)
    assert "w" not in state and state["life"]["s"] == "firing"  # rebuilt, the alert itself kept


# --- The worker's engine: alerts move on stream time between their series' samples (streams/engine.py) ---

class _Table:
    """The part of a Faust table the state store reads."""

    def __init__(self) -> None:
        self.data: dict = {}

    def get(self, key: str):
        return self.data.get(key)


def engine_of(*rules: Rule, **kwargs):
    from types import SimpleNamespace

    from streams.engine import Engine
    from kernel.rules import RuleIndex
    from streams.state import StateStore
    return Engine(SimpleNamespace(index=RuleIndex(rules)), StateStore(_Table(), None), StateStore(_Table(), None),
                  partitions=1, lateness_ms=30_000, **kwargs)


def other(ts_s: float) -> dict:
    """A sample of a series no rule selects: it moves the partition's stream time on."""
    return {"series_id": series_id("noise", {}), "name": "noise", "labels": {}, "value": 0.0,
            "timestamp_ms": int(ts_s * 1000)}


def feed(engine, *samples: dict) -> list[dict]:
    """One batch on partition 0, then the worker's tick; the AlertEvents both produced."""
    emits = engine.on_batch(list(samples), 0, now_ms=0).emits + engine.tick(0, {0}, {0})
    return [e.event for e in emits]


def test_for_completes_on_stream_time_without_a_new_sample_of_the_series():
    engine = engine_of(RULE)
    assert feed(engine, sample(95, 0)) == []
    assert feed(engine, other(29)) == []
    (fired,) = feed(engine, other(45))  # nothing new from web-1: stream time says it held for 30 s
    assert (fired["status"], fired["event_time_ms"], fired["starts_at_ms"]) == ("FIRING", 30_000, 0)
    assert fired["annotations"] == {"summary": "web-1 at 95"} and fired["value"] == 95
    assert fired["labels"] == {"host": "web-1", "severity": "page", "team": "web-1-ops", "alertname": "HighCPU"}


def test_the_next_sample_completes_for_first_when_no_tick_came_between():
    engine = engine_of(RULE)
    events = [e.event for e in engine.on_batch([sample(95, 0), sample(40, 50)], 0, now_ms=0).emits]
    # Fired at 30 s (the 95 at 0 s was current until then), resolved by the 40 at 50 s.
    assert [(e["status"], e["event_time_ms"]) for e in events] == [("FIRING", 30_000), ("RESOLVED", 50_000)]


def test_a_series_that_stops_resolves_after_the_lookback():
    engine = engine_of(RULE)
    feed(engine, sample(95, 0), sample(97, 30))
    assert feed(engine, other(330)) == []  # 5 m after the last sample it is still current (Prometheus 2.42)
    (resolved,) = feed(engine, other(331))
    assert (resolved["status"], resolved["event_time_ms"], resolved["sequence"]) == ("RESOLVED", 330_001, 2)
    assert resolved["annotations"] == {"summary": "web-1 at 97"} and resolved["value"] == 97  # as last firing


def test_annotations_are_rendered_with_the_value_current_at_the_transition():
    rule = RULE.model_copy(update={"for_s": 60.0})
    engine = engine_of(rule)
    for t, v in [(0, 91), (20, 99.5), (40, 93.25)]:
        assert feed(engine, sample(v, t)) == []
    (fired,) = feed(engine, other(75))
    assert fired["annotations"] == {"summary": "web-1 at 93.25"} and fired["event_time_ms"] == 60_000


def test_a_pending_alert_whose_series_went_quiet_longer_than_the_lookback_starts_over():
    rule = RULE.model_copy(update={"for_s": 400.0})
    engine = engine_of(rule)
    feed(engine, sample(95, 0))
    assert feed(engine, other(400)) == []  # stale from 300 s on: the pending alert is dropped
    assert feed(engine, sample(95, 500), sample(95, 700), other(899)) == []  # pending again, from 500 s
    assert [(e["status"], e["starts_at_ms"], e["event_time_ms"]) for e in feed(engine, other(900))] == [
        ("FIRING", 500_000, 900_000)]


def test_keep_firing_for_runs_out_on_stream_time():
    rule = RULE.model_copy(update={"for_s": 0.0, "keep_firing_for_s": 60.0})
    engine = engine_of(rule)
    assert [e["status"] for e in feed(engine, sample(95, 0))] == ["FIRING"]
    assert feed(engine, sample(10, 10), other(69)) == []
    assert [(e["status"], e["event_time_ms"]) for e in feed(engine, other(70))] == [("RESOLVED", 70_000)]


def test_external_labels_are_added_where_the_alert_lacks_them_and_templates_see_them():
    where = "{{ $externalLabels.cluster }} {{ $externalURL }}"
    rule = RULE.model_copy(update={"for_s": 0.0, "annotations": {"where": where}})
    engine = engine_of(rule, external_labels={"cluster": "eu-1", "host": "ignored"}, external_url="https://v.example")
    (fired,) = feed(engine, sample(95, 0))
    assert fired["labels"]["cluster"] == "eu-1" and fired["labels"]["host"] == "web-1"
    assert fired["annotations"] == {"where": "eu-1 https://v.example"}


def test_empty_label_values_are_dropped_as_prometheus_does():
    rule = RULE.model_copy(update={"for_s": 0.0, "labels": {"job_name": "", "host": "", "team": "{{ $labels.nope }}",
                                                            "severity": "page"}})
    (fired,) = run(rule, [sample(95, 0)])
    assert fired["labels"] == {"severity": "page", "alertname": "HighCPU"}  # the series' own host too, as Prometheus


def test_stream_time_is_per_partition():
    engine = engine_of(RULE)
    engine.on_batch([sample(95, 0)], 0, now_ms=0)
    engine.on_batch([other(600)], 1, now_ms=0)  # another partition is far ahead
    assert engine.tick(0, {0, 1}, {0, 1}) == []


def test_firing_alerts_restored_from_the_changelog_still_resolve_when_their_series_is_gone():
    from streams.state import encode
    engine = engine_of(RULE)
    feed(engine, sample(95, 0), sample(97, 30))
    key = next(iter(engine.series.live))
    saved = encode(engine.series.live[key])
    restarted = engine_of(RULE)  # a successor: the state comes back from the table only
    restarted.series.table.data[key] = saved
    restarted.series.partition_of[key] = 0
    assert feed(restarted, other(331))[0]["status"] == "RESOLVED"


def test_state_written_before_this_change_still_loads_and_runs():
    from streams.state import decode
    old = decode(b'{"life":{"s":"firing","a":0,"t":30000,"q":1,"k":30000},"v":1,"sh":"threshold|None|None|30",'
                 b'"n":30000,"lb":{"host":"web-1"},"sid":7}')
    _, transition, _ = observe(RULE, old, 40_000, 10.0, 0)
    assert transition == "RESOLVED"
    assert math.isnan(decode(b'{"life":{"s":"firing","a":0,"t":1,"q":1,"k":1},"v":1,"val":null}')["val"])


def test_a_sample_stamped_ahead_of_ingest_does_not_move_stream_time_and_resolve_everything():
    from schemas import codec

    engine = engine_of(RULE)
    feed(engine, sample(95, 0), sample(97, 30))  # firing
    # A sender whose clock runs 10 minutes fast: ingest accepted its sample at 40 s.
    metrics = codec.SeriesBatchCodec()
    ahead = metrics.columns(metrics.encode({"partition": 0, "source": "influx", "accepted_at_ms": 40_000,
                                            "samples": [other(640)]}))
    emits = engine.on_columns(ahead, 0, now_ms=40_000).emits + engine.tick(40_000, {0}, {0})
    assert emits == [] and engine.partition_time_ms[0] == 40_000, "stream time stops at the batch's arrival"
