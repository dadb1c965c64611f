"""Absence (deadman) rules: an alert fires when nothing has arrived for `absent_for` (+ `for`).

Driven by the worker's timer on the wall clock, so it fires even when no sample ever comes.
Three scopes: per series (`by` unset), per group of labels (`by: [device]`), and for the whole
selector (`by: []`, Prometheus' `absent()`: labels from the rule's equality matchers). A per-series
or per-group rule also watches its selector until the first sample arrives, so it fires when
nothing ever comes; after that its series or groups are watched instead. The
firing event's time is the deadline itself, so a replay after a restart produces the same event.
"""

from __future__ import annotations

from streams.evaluate import AlertState
from streams.lifecycle import Transition, resolve
from kernel.rules import Rule


def per_series(rule: Rule) -> bool:
    """True when the rule raises one alert per series (no `by`)."""
    return rule.by is None


def selector_labels(rule: Rule) -> dict[str, str]:
    """Labels of the selector-level alert: the rule's equality matchers, as Prometheus' absent() gives."""
    return {m.name: m.value for m in rule.selectors() if m.op == "="}


def group_labels(rule: Rule, labels: dict[str, str]) -> dict[str, str]:
    """The labels identifying a `by` group (the selector's labels for `by: []`)."""
    if rule.by:
        return {name: labels.get(name, "") for name in rule.by}
    return selector_labels(rule)


def arrived(state: AlertState, now_ms: int, ts: int) -> Transition | None:
    """Data arrived (wall time `now_ms`, event time `ts`): note it, and resolve a firing alert."""
    if now_ms > state.get("seen", -1):
        state["seen"] = now_ms
    if ts > state.get("n", -1):
        state["n"] = ts
    return resolve(state["life"], ts) if state["life"]["s"] == "firing" else None


def deadline(rule: Rule, state: AlertState) -> int:
    """Wall-clock ms at which the alert fires if nothing arrives before."""
    return state["seen"] + int((rule.absent_for_s + rule.for_s) * 1000)


def due(rule: Rule, state: AlertState, now_ms: int) -> Transition | None:
    """FIRING when the deadline has passed and the alert isn't firing yet."""
    life = state["life"]
    if life["s"] == "firing" or now_ms < deadline(rule, state):
        return None
    at = deadline(rule, state)
    life.update(s="firing", a=state["seen"] + int(rule.absent_for_s * 1000), t=at, k=at, q=life["q"] + 1)
    return "FIRING"
