"""The alert lifecycle on event time: inactive → pending → firing → (keep_firing_for) → resolved.

Pure and clock-free: each call gets the sample's timestamp and whether the rule's condition
holds at it. Prometheus semantics (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/):
`for` keeps an alert pending until the condition has held that long; `keep_firing_for` keeps it
firing that long after the condition last held. Samples at or before the last transition are
ignored, so a replayed or late sample never flips an alert.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from streams.rules import Rule

Transition = Literal["FIRING", "RESOLVED"]


class Life(TypedDict):
    """The lifecycle part of an alert's state (JSON in the Faust table)."""

    s: str  # inactive | pending | firing
    a: int  # event time the condition became true (ms): the start of the current or last episode
    t: int  # event time of the last lifecycle change (ms)
    q: int  # transitions emitted so far (the AlertEvent sequence)
    k: int  # event time the condition last held (ms), for keep_firing_for


def new_life() -> Life:
    """An alert that has never been active."""
    return Life(s="inactive", a=0, t=-1, q=0, k=0)


def advance(rule: Rule, life: Life, ts: int, active: bool) -> Transition | None:
    """Move `life` (in place) to event time `ts`; the transition to emit, if any."""
    if ts <= life["t"]:
        return None
    state = life["s"]
    if active:
        life["k"] = ts
        if state == "inactive":
            life.update(s="pending", a=ts, t=ts)
            state = "pending"
        if state == "pending" and ts - life["a"] >= rule.for_s * 1000:
            life.update(s="firing", t=ts, q=life["q"] + 1)
            return "FIRING"
        return None
    if state == "pending":
        life.update(s="inactive", t=ts)
    elif state == "firing" and ts - life["k"] >= rule.keep_firing_for_s * 1000:
        life.update(s="inactive", t=ts, q=life["q"] + 1)
        return "RESOLVED"
    return None


def resolve(life: Life, ts: int) -> Transition | None:
    """Resolve a firing alert whatever its condition (its rule was deleted or changed type)."""
    if life["s"] != "firing":
        life["s"] = "inactive"
        return None
    life.update(s="inactive", t=max(ts, life["t"] + 1), q=life["q"] + 1)
    return "RESOLVED"
