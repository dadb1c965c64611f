"""Threshold evaluation with `for`, on event time: pure, one sample at a time, no clock.

Per alert (rule × series) the state is inactive → pending (condition true since `active_at`)
→ firing once a sample at least `for` after `active_at` still meets the condition → resolved
(an AlertEvent) when a later sample does not. Samples older than the last transition are
ignored, so a late sample never flips an alert. State changes only on transitions, which keeps
Faust table writes (changelog messages) to transitions rather than samples.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TypedDict

from schemas.records import AlertEvent, Sample
from schemas.series_id import fingerprint
from streams.rules import Rule
from streams.template import render

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
        "!=": operator.ne}


class AlertState(TypedDict):
    """What a Faust table keeps per fingerprint (JSON)."""

    state: str  # inactive | pending | firing
    active_at: int  # event time the condition became true (ms)
    since: int  # event time of the last transition (ms)
    seq: int  # AlertEvents emitted so far for this fingerprint


@dataclass(frozen=True, slots=True)
class Step:
    """Result of one sample: the new state to store (None: unchanged) and an event to emit."""

    state: AlertState | None = None
    event: AlertEvent | None = None


UNCHANGED = Step()


def alert_labels(rule: Rule, sample: Sample) -> dict[str, str]:
    """Series labels, then the rule's templated labels, then alertname."""
    labels = dict(sample["labels"])
    for key, text in rule.labels.items():
        labels[key] = render(text, sample["labels"], sample["value"])
    labels["alertname"] = rule.alert
    return labels


def alert_fingerprint(rule: Rule, sample: Sample) -> str:
    """Stable id of the alert this rule raises on this series (rule id is part of it)."""
    return fingerprint({**sample["labels"], "__rule__": rule.id})


def step(rule: Rule, sample: Sample, prior: AlertState | None, key: str) -> Step:
    """Advance the alert `key` of `rule` on `sample`."""
    ts = sample["timestamp_ms"]
    if prior is not None and ts < prior["since"]:
        return UNCHANGED
    current = prior["state"] if prior else "inactive"
    seq = prior["seq"] if prior else 0
    if _OPS[rule.op](sample["value"], rule.threshold):
        if current == "inactive":
            if rule.for_s <= 0:
                return _fire(rule, sample, key, active_at=ts, seq=seq + 1)
            return Step(AlertState(state="pending", active_at=ts, since=ts, seq=seq))
        if current == "pending" and ts - prior["active_at"] >= rule.for_s * 1000:
            return _fire(rule, sample, key, active_at=prior["active_at"], seq=seq + 1)
        return UNCHANGED
    if current == "pending":
        return Step(AlertState(state="inactive", active_at=0, since=ts, seq=seq))
    if current == "firing":
        event = _event(rule, sample, key, "RESOLVED", prior["active_at"], seq + 1)
        event["ends_at_ms"] = ts
        return Step(AlertState(state="inactive", active_at=0, since=ts, seq=seq + 1), event)
    return UNCHANGED


def _fire(rule: Rule, sample: Sample, key: str, active_at: int, seq: int) -> Step:
    ts = sample["timestamp_ms"]
    return Step(AlertState(state="firing", active_at=active_at, since=ts, seq=seq),
                _event(rule, sample, key, "FIRING", active_at, seq))


def _event(rule: Rule, sample: Sample, key: str, status: str, active_at: int, seq: int) -> AlertEvent:
    labels = alert_labels(rule, sample)
    annotations = {k: render(v, sample["labels"], sample["value"]) for k, v in rule.annotations.items()}
    return AlertEvent(fingerprint=key, sequence=seq, status=status, rule_id=rule.id, rule_version=rule.version,
                      alertname=rule.alert, labels=labels, annotations=annotations, value=sample["value"],
                      series_id=sample["series_id"], starts_at_ms=active_at, ends_at_ms=None,
                      event_time_ms=sample["timestamp_ms"])
