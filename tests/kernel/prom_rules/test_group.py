"""The rule-group evaluator's public interface: transitions, notifications, samples, state codec, restore."""

from __future__ import annotations

import textwrap

import pytest

from kernel.prom_rules import (
    AlertState, HeadAppender, RuleGroup, StateCodecError, decode_state, encode_state, engine_query_func,
    load_rule_file,
)
from kernel.prom_rules.for_state_restore import restore_for_state
from kernel.prom_rules.templates import alert_expander
from kernel.promql import Engine, MemoryStorage, is_stale

MIN = 60_000
RULES = """\
    groups:
      - name: g
        rules:
          - record: errors:sum
            expr: sum(errors)
          - alert: ManyErrors
            expr: errors:sum > 5
            for: 2m
            labels: {severity: page}
            annotations: {summary: "{{ $value }} errors"}
    """


def make_group(tmp_path, storage, state=None, restored=True, rules=RULES):
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(rules))
    spec = load_rule_file(path).groups[0]
    query = engine_query_func(Engine(storage))
    return RuleGroup(spec, query=query, expand=alert_expander({}, "http://prom", query),
                     appender=HeadAppender(storage), external_url="http://prom", state=state, restored=restored)


def feed(storage, values, start=0):
    for i, v in enumerate(values):
        storage.add({"__name__": "errors", "pod": "a"}, start + i * MIN, v)


def test_pending_firing_resolved(tmp_path):
    storage = MemoryStorage()
    feed(storage, [1, 10, 10, 10, 10])
    group = make_group(tmp_path, storage)
    runs = [group.evaluate(t * MIN) for t in range(5)]
    assert runs[0].transitions == ()
    [pending] = runs[1].transitions
    assert (pending.from_state, pending.to_state, pending.active_at_ms) == (AlertState.INACTIVE, AlertState.PENDING, MIN)
    assert dict(pending.labels) == {"alertname": "ManyErrors", "severity": "page"}
    assert runs[2].transitions == ()
    [firing] = runs[3].transitions
    assert (firing.to_state, firing.fired_at_ms, dict(firing.annotations)) == (AlertState.FIRING, 3 * MIN,
                                                                               {"summary": "10 errors"})
    [sent] = runs[3].notifications
    assert (sent.starts_at_ms, sent.ends_at_ms, sent.resolved) == (3 * MIN, 3 * MIN + 4 * MIN, False)
    assert sent.generator_url == "http://prom/graph?g0.expr=errors%3Asum+%3E+5&g0.tab=1"
    assert runs[4].notifications == ()  # re-sent only after resend_delay (1m) has passed
    # the recorded series is visible to the alert in the same evaluation, and written with ALERTS
    names = [dict(s.labels)["__name__"] for s in runs[3].samples if not is_stale(s.value)]
    assert names == ["errors:sum", "ALERTS", "ALERTS_FOR_STATE"]
    # stale marker for ALERTS{alertstate="pending"} once the alert fires
    assert any(is_stale(s.value) and dict(s.labels).get("alertstate") == "pending" for s in runs[3].samples)

    storage.add({"__name__": "errors", "pod": "a"}, 5 * MIN, 0)
    resolved = group.evaluate(5 * MIN)
    [t] = resolved.transitions
    assert (t.from_state, t.to_state, t.resolved_at_ms) == (AlertState.FIRING, AlertState.INACTIVE, 5 * MIN)
    [sent] = resolved.notifications
    assert (sent.resolved, sent.ends_at_ms) == (True, 5 * MIN)


def test_query_errors_are_outcomes_not_exceptions(tmp_path):
    storage = MemoryStorage()
    group = make_group(tmp_path, storage, rules=RULES.replace("sum(errors)", "sum(errors) + on(x) group_left errors"))
    storage.add({"__name__": "errors", "x": "1", "a": "1"}, 0, 1)
    storage.add({"__name__": "errors", "x": "1", "a": "2"}, 0, 1)
    result = group.evaluate(0)
    assert result.outcomes[0].error is not None
    assert group.last_errors[0] == result.outcomes[0].error


def test_state_survives_the_codec(tmp_path):
    storage = MemoryStorage()
    feed(storage, [10, 10, 10, 10])
    group = make_group(tmp_path, storage)
    group.evaluate(0)
    group.evaluate(MIN)
    data = encode_state(group.snapshot())
    resumed = make_group(tmp_path, storage, state=decode_state(data))
    [firing] = resumed.evaluate(2 * MIN).transitions
    assert (firing.to_state, firing.active_at_ms) == (AlertState.FIRING, 0)
    with pytest.raises(StateCodecError):
        decode_state(b'{"version": 99}')


def test_for_state_is_restored_from_alerts_for_state(tmp_path):
    rules = RULES.replace("for: 2m", "for: 30m")
    storage = MemoryStorage()
    feed(storage, [10] * 40)
    before = make_group(tmp_path, storage, rules=rules)
    for t in range(6):
        before.evaluate(t * MIN)  # pending since 0, written to ALERTS_FOR_STATE until 5m
    after = make_group(tmp_path, storage, rules=rules, restored=False)  # restarted at 15m
    after.evaluate(15 * MIN)

    def last_sample(labels, min_ms, max_ms):
        series = storage.select([], min_ms, max_ms)
        for s in series:
            if tuple(sorted(s.labels.items())) == labels:
                return s.timestamps[-1], s.values[-1]
        return None

    restore_for_state(after, 15 * MIN, last_sample)
    [alert] = after.alerting_rules()[0].active.values()
    assert alert.active_at_ms == 10 * MIN  # moved forward by the 10m downtime
