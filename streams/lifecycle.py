"""The alert lifecycle on event time: inactive → pending → firing → (keep_firing_for) → resolved.

Pure and clock-free. Prometheus semantics
(https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/ and rules/alerting.go
of v2.42), taken to the limit of an evaluation at every instant:

- the condition at time T is the one of the series' newest sample at or before T, as long as that
  sample is at most the lookback (5 m for an instant selector) older than T; after that the series
  is gone from the result and the condition does not hold;
- `for` keeps an alert pending until the condition has held that long since it became active;
- `keep_firing_for` keeps a firing alert firing that long after the condition stopped holding
  (a sample where it doesn't, or the series going stale), as Prometheus' KeepFiringSince.

`advance` applies one sample; `catch_up` moves an alert through the time between its series'
samples (driven by stream time: the worker's tick, or the next sample), so `for` completes and a
vanished series resolves without waiting for a sample that may never come. Samples at or before
the last transition are ignored, so a replayed or late sample never flips an alert.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from kernel.rules import Rule

Transition = Literal["FIRING", "RESOLVED"]

LOOKBACK_MS = 5 * 60_000  # Prometheus' --query.lookback-delta default: how long a sample stays current


class Life(TypedDict):
    """The lifecycle part of an alert's state (JSON in the Faust table)."""

    s: str  # inactive | pending | firing
    a: int  # event time the condition became true (ms): the start of the current or last episode
    t: int  # event time of the last lifecycle change (ms)
    q: int  # transitions emitted so far (the AlertEvent sequence)
    k: int  # event time the condition last held (ms)
    f: NotRequired[int]  # firing while the condition doesn't hold: since when (Prometheus' KeepFiringSince)


def new_life() -> Life:
    """An alert that has never been active."""
    return Life(s="inactive", a=0, t=-1, q=0, k=0)


def advance(rule: Rule, life: Life, ts: int, active: bool) -> Transition | None:
    """Move `life` (in place) to a sample at event time `ts`; the transition to emit, if any."""
    if ts <= life["t"]:
        return None
    state = life["s"]
    if active:
        life["k"] = ts
        if state == "inactive":
            life.update(s="pending", a=ts, t=ts)
            state = "pending"
        elif "f" in life:
            del life["f"]  # held again within keep_firing_for
        if state == "pending" and ts - life["a"] >= rule.for_s * 1000:
            life.update(s="firing", t=ts, q=life["q"] + 1)
            return "FIRING"
        return None
    if state == "pending":
        life.update(s="inactive", t=ts)
    elif state == "firing":
        since = life.setdefault("f", ts)
        if ts - since >= rule.keep_firing_for_s * 1000:
            _resolved(life, ts)
            return "RESOLVED"
    return None


def catch_up(rule: Rule, life: Life, newest_ms: int, lookback_ms: int, until_ms: int) -> Transition | None:
    """Move `life` through event time up to `until_ms` with no new sample; the next transition, if any.

    `newest_ms` is the series' newest sample (its condition holds from there on, for a pending
    alert, until it goes stale `lookback_ms` later). One transition per call: call again until
    None (a sparse series may fire and then go stale in one stretch).
    """
    state = life["s"]
    if state == "inactive" or until_ms <= life["t"]:
        return None
    stale_at = newest_ms + lookback_ms + 1  # Prometheus 2.42 still sees a sample exactly lookback old
    if state == "pending":
        fire_at = max(life["a"] + int(rule.for_s * 1000), life["t"] + 1)
        if fire_at <= until_ms and fire_at < stale_at:
            life.update(s="firing", t=fire_at, q=life["q"] + 1)
            return "FIRING"
        if stale_at <= until_ms:
            life.update(s="inactive", t=stale_at)
        return None
    since = life.get("f")
    if since is None:
        if stale_at > until_ms:
            return None
        since = life["f"] = max(stale_at, life["t"] + 1)  # gone from the result: keep_firing_for starts
    resolve_at = max(since + int(rule.keep_firing_for_s * 1000), life["t"] + 1)
    if resolve_at <= until_ms:
        _resolved(life, resolve_at)
        return "RESOLVED"
    return None


def _resolved(life: Life, ts: int) -> None:
    life.update(s="inactive", t=ts, q=life["q"] + 1)
    life.pop("f", None)


def resolve(life: Life, ts: int) -> Transition | None:
    """Resolve a firing alert whatever its condition (its rule was deleted or changed type)."""
    life.pop("f", None)
    if life["s"] != "firing":
        life["s"] = "inactive"
        return None
    life.update(s="inactive", t=max(ts, life["t"] + 1), q=life["q"] + 1)
    return "RESOLVED"
