"""One rule on one sample: the rule type's value (raw, window function, anomaly score), its
condition, and the lifecycle step, with the AlertEvent a transition produces. Pure: event time
comes from the sample, the state is a dict the caller keeps (a Faust table value).

Late samples: a sample older than the newest one seen for the alert contributes to windows when
it is within `lateness_ms` of the newest, and never triggers an evaluation itself, so a single
late sample never flips an alert; an older one is dropped (the caller counts it).
"""

from __future__ import annotations

import operator
from typing import TypedDict

from schemas.records import AlertEvent, Sample
from schemas.series_id import fingerprint
from streams import anomaly, windows
from streams.lifecycle import Life, Transition, advance, new_life
from streams.rules import WINDOW_TYPES, Rule
from streams.template import render

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
       "!=": operator.ne}
MAX_WINDOW_POINTS = 10_000


class Outcome:
    """What a sample did to an alert; the bounded label of the evaluation counters.

    Plain strings rather than an Enum: they key a per-batch Counter for every sample, and an
    Enum member hashes in Python (~10% of the engine's time, measured).
    """

    EVALUATED = "evaluated"
    WARMING_UP = "warming_up"  # not enough samples for the window or the model yet
    LATE = "late"  # older than the newest sample, within the allowed lateness: kept, not evaluated
    TOO_LATE = "too_late"  # older than the allowed lateness: dropped
    DUPLICATE = "duplicate"  # the same timestamp again (a replay after a restart)


class AlertState(TypedDict, total=False):
    """Everything kept per alert (rule × series); JSON in the Faust table."""

    life: Life
    v: int  # version of the rule last applied
    sh: str  # what the window/model was built for (type, window, quantile, warmup)
    n: int  # newest sample time seen (ms)
    w: windows.Points  # window samples (window rule types)
    m: object  # anomaly model (river) in memory; its dump() in the table
    seen: int  # absent rules: wall-clock ms the last sample arrived
    done: int  # absent rules: a selector watch that data has reached (its series/groups took over)
    lb: dict[str, str]  # labels of the series or group (absence alerts fire from the timer)
    sid: int  # series id, for the same reason


def alert_key(rule: Rule, labels: dict[str, str]) -> tuple[str, str]:
    """(table key, fingerprint) of the alert `rule` raises on a series or group with `labels`."""
    fp = fingerprint({**labels, "__rule__": rule.id})
    return f"{rule.id}/{fp}", fp


def _shape(rule: Rule) -> str:
    """What a window or model depends on: a change of anything else (threshold, labels) keeps them."""
    return f"{rule.type}|{rule.window_s}|{rule.quantile}|{rule.warmup}"


def new_state(rule: Rule) -> AlertState:
    """State for an alert seen for the first time."""
    return AlertState(life=new_life(), v=rule.version, sh=_shape(rule), n=-1)


def adopt(rule: Rule, state: AlertState) -> None:
    """Take a new version of the rule: keep the lifecycle, rebuild windows/models only if their shape changed."""
    shape = _shape(rule)
    if state.get("sh") != shape:
        state.pop("w", None)
        state.pop("m", None)
        state["sh"] = shape
    state["v"] = rule.version


def observe(rule: Rule, state: AlertState, ts: int, value: float, lateness_ms: int
            ) -> tuple[str, Transition | None, float]:
    """Feed one sample; (what it did, the transition, the value the condition saw)."""
    newest = state.get("n", -1)
    if ts < newest - lateness_ms:
        return Outcome.TOO_LATE, None, value
    kind = rule.type
    if kind in WINDOW_TYPES:
        points = state.setdefault("w", [])
        if not windows.add(points, ts, value, int(rule.window_s * 1000), MAX_WINDOW_POINTS):
            return Outcome.DUPLICATE, None, value
        if ts < newest:
            return Outcome.LATE, None, value
        state["n"] = ts
        if kind in windows.RANGE_FUNCTIONS:
            derived = windows.RANGE_FUNCTIONS[kind](points, rule.window_s)
        elif kind == "quantile_over_time":
            derived = windows.quantile(points, rule.quantile)
        else:
            derived = windows.OVER_TIME[kind](points)
        if derived is None:
            return Outcome.WARMING_UP, None, value
        value = derived
    else:
        if ts == newest:
            return Outcome.DUPLICATE, None, value
        if ts < newest:
            return Outcome.LATE, None, value
        state["n"] = ts
        if kind == "anomaly":
            model = state.get("m")
            if model is None:
                model = state["m"] = anomaly.new_model()
            score = anomaly.score_and_learn(model, value, rule.warmup)
            if score is None:
                return Outcome.WARMING_UP, None, value
            value = score
    return Outcome.EVALUATED, advance(rule, state["life"], ts, OPS[rule.op](value, rule.threshold)), value


def event(rule: Rule, fp: str, labels: dict[str, str], life: Life, status: Transition, value: float,
          series_id: int, ts: int) -> AlertEvent:
    """The AlertEvent of a transition; labels and annotations rendered from the series and value."""
    out = dict(labels)
    for key, text in rule.labels.items():
        out[key] = render(text, labels, value)
    out["alertname"] = rule.alert
    annotations = {k: render(v, labels, value) for k, v in rule.annotations.items()}
    return AlertEvent(fingerprint=fp, sequence=life["q"], status=status, rule_id=rule.id,
                      rule_version=rule.version, alertname=rule.alert, labels=out, annotations=annotations,
                      value=value, series_id=series_id, starts_at_ms=life["a"],
                      ends_at_ms=ts if status == "RESOLVED" else None,
                      event_time_ms=ts)


def sample_event(rule: Rule, fp: str, sample: Sample, state: AlertState, status: Transition,
                 value: float) -> AlertEvent:
    """The AlertEvent of a transition a sample caused."""
    return event(rule, fp, sample["labels"], state["life"], status, value, sample["series_id"],
                 sample["timestamp_ms"])
