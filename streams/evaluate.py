"""One rule on one sample: the rule type's value (raw, window function, anomaly score), its
condition, and the lifecycle step, with the AlertEvent a transition produces. Pure: event time
comes from the sample, the state is a dict the caller keeps (a Faust table value). Between
samples, `catch_up` moves a pending/firing alert along stream time (streams/lifecycle.py).

Late samples: a sample older than the newest one seen for the alert contributes to windows when
it is within `lateness_ms` of the newest, and never triggers an evaluation itself, so a single
late sample never flips an alert; an older one is dropped (the caller counts it).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

from schemas.records import AlertEvent, Sample
from schemas.series_id import fingerprint
from streams import anomaly, lifecycle, windows
from streams.lifecycle import Life, Transition, advance, new_life
from kernel.rules import WINDOW_TYPES, Rule
from kernel.rule_template import render_all

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
       "!=": operator.ne}
MAX_WINDOW_POINTS = 10_000
_FOREVER_MS = 1 << 62


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
    val: float  # pending/firing: the value at the newest sample where the condition held (Prometheus' alert value)
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


@dataclass(frozen=True, slots=True)
class AlertContext:
    """What every alert of a worker shares: Prometheus' external labels and external URL (settings)."""

    external_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""


NO_CONTEXT = AlertContext()


def catch_up(rule: Rule, state: AlertState, until_ms: int) -> Transition | None:
    """The next transition of a pending/firing alert between samples, up to stream time `until_ms`.

    A plain series counts for the 5 m lookback after its newest sample. A window function has a
    result as long as its window (Prometheus 2.42: [T - window, T]) holds the samples it needs:
    one for *_over_time, two for rate/increase/deriv. Between samples the window's value is the
    one computed at the newest sample (it is recomputed at the next one).
    """
    kind = rule.type
    if kind in WINDOW_TYPES:
        points = state.get("w") or ()
        need = 2 if kind in windows.RANGE_FUNCTIONS else 1
        last = int(points[-need][0]) if len(points) >= need else -_FOREVER_MS
        return lifecycle.catch_up(rule, state["life"], last, int(rule.window_s * 1000), until_ms)
    return lifecycle.catch_up(rule, state["life"], state.get("n", -1), lifecycle.LOOKBACK_MS, until_ms)


def event(rule: Rule, fp: str, labels: dict[str, str], life: Life, status: Transition, value: float,
          series_id: int, ts: int, context: AlertContext = NO_CONTEXT) -> AlertEvent:
    """The AlertEvent of a transition; labels and annotations rendered from the series and value.

    As Prometheus (rules/alerting.go): the series' labels, then the rule's labels rendered (an
    empty result deletes the label, series' own included), then `alertname`; templates see the
    series' labels with `__name__` where the expression keeps it (a plain selector compared with
    a number); the external labels are added last where the alert has no label of that name, as
    Prometheus does when it sends alerts to Alertmanager.
    """
    out = {k: v for k, v in labels.items() if v}  # Prometheus has no empty label values
    seen = {"__name__": rule.metric, **out} if rule.type == "threshold" else dict(out)
    external, url = context.external_labels, context.external_url
    for key, rendered in render_all(rule.labels, seen, value, external, url, rule.alert).items():
        if rendered:
            out[key] = rendered
        else:
            out.pop(key, None)
    out["alertname"] = rule.alert
    for key, v in external.items():
        if v and key not in out:
            out[key] = v
    annotations = render_all(rule.annotations, seen, value, external, url, rule.alert)
    return AlertEvent(fingerprint=fp, sequence=life["q"], status=status, rule_id=rule.id,
                      rule_version=rule.version, alertname=rule.alert, labels=out, annotations=annotations,
                      value=value, series_id=series_id, starts_at_ms=life["a"],
                      ends_at_ms=ts if status == "RESOLVED" else None,
                      event_time_ms=ts)


def state_event(rule: Rule, fp: str, state: AlertState, status: Transition, context: AlertContext = NO_CONTEXT,
                value: float | None = None) -> AlertEvent:
    """The AlertEvent of a transition at the alert's last lifecycle change, rendered from what it keeps.

    The value (and so `$value`) is the one at the newest sample where the condition held: the
    current one while the alert is active, the last active one once it resolved, as Prometheus
    shows it. `value` stands in for a state saved before it kept one.
    """
    kept = state.get("val")
    return event(rule, fp, state.get("lb", {}), state["life"], status,
                 kept if kept is not None else (value if value is not None else math.nan),
                 state.get("sid", 0), state["life"]["t"], context)


def sample_event(rule: Rule, fp: str, sample: Sample, state: AlertState, status: Transition,
                 value: float, context: AlertContext = NO_CONTEXT) -> AlertEvent:
    """The AlertEvent of a transition a sample caused."""
    return event(rule, fp, sample["labels"], state["life"], status, value, sample["series_id"],
                 sample["timestamp_ms"], context)
