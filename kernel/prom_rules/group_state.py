"""A rule group's state as a versioned record, so a worker can persist it and resume where it left off.

Prometheus keeps this in memory only and, after a restart, rebuilds the `for` state from the
ALERTS_FOR_STATE series (see for_state_restore.py); a worker that persists this record instead
resumes exactly, including resolved alerts still being re-sent. Rules are matched on load by name and
labels, as Prometheus' Group.CopyState does on a reload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from .alerting import Alert, AlertState
from .labelset import Labels

CODEC_VERSION = 1


class StateCodecError(ValueError):
    """Bytes that are not a group state this version can read."""


@dataclass
class RuleState:
    """One rule's state: its alerts (alerting rules) and the series it wrote at its last evaluation."""

    key: str  # rule name + its labels, the identity that survives a reload
    alerts: list[Alert] = field(default_factory=list)
    previous_series: list[Labels] = field(default_factory=list)
    restored: bool = True


@dataclass
class GroupState:
    """Every rule's state of one group."""

    group: str
    rules: list[RuleState]


def encode_state(state: GroupState) -> bytes:
    """GroupState → bytes (JSON with a version; floats as text so NaN and ±Inf survive)."""
    return orjson.dumps({
        "version": CODEC_VERSION,
        "group": state.group,
        "rules": [{"key": r.key, "restored": r.restored,
                   "previous_series": [list(map(list, s)) for s in r.previous_series],
                   "alerts": [_alert_to_json(a) for a in r.alerts]} for r in state.rules],
    })


def decode_state(data: bytes) -> GroupState:
    """bytes → GroupState; raises StateCodecError for another version or a damaged record."""
    try:
        raw = orjson.loads(data)
        if raw.get("version") != CODEC_VERSION:
            raise StateCodecError(f"group state version {raw.get('version')!r}, this code reads {CODEC_VERSION}")
        return GroupState(raw["group"], [
            RuleState(r["key"], [_alert_from_json(a) for a in r["alerts"]],
                      [tuple((n, v) for n, v in s) for s in r["previous_series"]], r["restored"])
            for r in raw["rules"]])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, StateCodecError):
            raise
        raise StateCodecError(f"damaged group state: {exc!r}") from None


def _alert_to_json(a: Alert) -> dict:
    return {"labels": [list(p) for p in a.labels], "annotations": [list(p) for p in a.annotations],
            "state": a.state.value, "value": _float_text(a.value), "active_at_ms": a.active_at_ms,
            "fired_at_ms": a.fired_at_ms, "resolved_at_ms": a.resolved_at_ms, "last_sent_at_ms": a.last_sent_at_ms,
            "valid_until_ms": a.valid_until_ms, "keep_firing_since_ms": a.keep_firing_since_ms}


def _alert_from_json(a: dict) -> Alert:
    return Alert(tuple((n, v) for n, v in a["labels"]), tuple((n, v) for n, v in a["annotations"]),
                 AlertState(a["state"]), float(a["value"]), a["active_at_ms"], a["fired_at_ms"],
                 a["resolved_at_ms"], a["last_sent_at_ms"], a["valid_until_ms"], a["keep_firing_since_ms"])


def _float_text(v: float) -> str:
    return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
