"""An incident group's state (one per route × group_by values) and the records made from it.

The state is a plain dict (orjson in a Faust table, like the alert states): the group's alerts,
what was last paged, its timers as absolute times, and the open incident. Times are *logical*:
a flush happens at the time it was scheduled for (not when the worker got round to it) and an
alert joins at its own event time, so a worker that replays the same inputs after a crash makes
byte-identical records, which the notifier's ledger recognises (streams/state.py explains the
event-first, state-second order that makes replays happen instead of losses).
"""

from __future__ import annotations

import json
from typing import TypedDict

from schemas.records import IncidentEvent, Notification, NotifiedAlert
from kernel.alerting.routing import Route

MAX_ALERTS_PER_NOTIFICATION = 1_000
MAX_COMMAND_IDS = 32
SEVERITY_RANK = {"critical": 5, "page": 5, "error": 4, "high": 4, "warning": 3, "medium": 3, "info": 2, "low": 2,
                 "none": 1}


class Incident(TypedDict, total=False):
    """The open (or last) incident of a group."""

    key: str  # "<gid>.<opened at ms>"
    st: str  # IncidentStatus
    seq: int  # IncidentEvent sequence
    ns: int  # Notification sequence
    op: int  # opened at (logical ms)
    ea: int | None  # escalate at
    ca: int | None  # critical at
    pg: list[str]  # receivers paged so far (they get the acknowledge/resolve)
    pol: str  # escalation policy
    rcv: str  # the route's receiver (or schedule)


class Group(TypedDict, total=False):
    """Everything kept per incident group."""

    gid: str
    gk: str  # Alertmanager-style group key
    r: str  # route path
    gl: dict[str, str]  # group labels
    a: dict[str, dict]  # fingerprint → alert (s: F|R, n, l, an, sa, ea, v, t, q)
    fl: int | None  # next flush (logical ms)
    nf: list[str]  # fingerprints paged as firing last time
    ln: int | None  # last page (logical ms), for repeat_interval
    inc: Incident | None
    cmd: list[str]  # recent command ids (redelivery)


def group_key(route: Route, labels: dict[str, str]) -> str:
    """Alertmanager's group key shape: route, then the group label values."""
    return f"{route.path}:{{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


def new_group(gid: str, route: Route, labels: dict[str, str]) -> Group:
    """An empty group of `route` for these group label values."""
    return Group(gid=gid, gk=group_key(route, labels), r=route.path, gl=labels, a={}, fl=None, nf=[], ln=None,
                 inc=None, cmd=[])


def is_open(group: Group) -> bool:
    """True while the group has an incident that is not resolved."""
    inc = group.get("inc")
    return inc is not None and inc["st"] != "RESOLVED"


def add_alert(group: Group, item: dict, logical_ms: int, group_wait_ms: int, group_interval_ms: int) -> bool:
    """Take one routed alert transition; True when the group changed. Schedules the first flush
    (and, with group_interval 0, a flush for every change)."""
    fp = item["fp"]
    known = group["a"].get(fp)
    if known is not None and (item["sq"], item["t"]) <= (known["q"], known["t"]):
        return False  # a replayed or reordered transition
    if item["st"] == "RESOLVED":
        if known is None:
            return False  # resolution of an alert this group never held
        known.update(s="R", ea=item["ea"], v=item["v"], t=item["t"], q=item["sq"])
    else:
        group["a"][fp] = {"s": "F", "n": item["n"], "l": item["l"], "an": item["an"], "sa": item["sa"],
                          "ea": None, "v": item["v"], "t": item["t"], "q": item["sq"]}
    if group["fl"] is None:
        group["fl"] = logical_ms + group_wait_ms  # a new (or emptied) group waits group_wait
    elif group_interval_ms == 0:
        group["fl"] = min(group["fl"], logical_ms + group_wait_ms)
    return True


def severity_of(group: Group, firing: list[str]) -> str:
    """The most severe `severity` label among the firing alerts (warning when none has one)."""
    best, rank = "warning", 0
    for fp in firing:
        value = group["a"][fp]["l"].get("severity", "")
        r = SEVERITY_RANK.get(value.lower(), 0)
        if r > rank:
            best, rank = value, r
    return best


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = dict(maps[0])
    for m in maps[1:]:
        for k in [k for k, v in common.items() if m.get(k) != v]:
            del common[k]
    return common


def title_of(group: Group, firing: list[str]) -> str:
    """`[FIRING:3] HighCPU host=web-1`: status, count, alertname and the other group labels."""
    names = sorted({group["a"][fp]["n"] for fp in firing}) or sorted({a["n"] for a in group["a"].values()})
    shown = " ".join(f"{k}={v}" for k, v in sorted(group["gl"].items()) if k != "alertname")
    head = f"[FIRING:{len(firing)}]" if firing else "[RESOLVED]"
    return " ".join(part for part in (head, ",".join(names[:3]) + ("…" if len(names) > 3 else ""), shown) if part)


def notification(group: Group, receiver: str, action: str, reason: str, logical_ms: int, now_ms: int,
                 firing: list[str], severity: str | None = None) -> Notification:
    """The page for one receiver, with the group's alerts (firing first, at most 1,000)."""
    inc = group["inc"]
    order = firing + [fp for fp, a in group["a"].items() if a["s"] == "R"]
    alerts = [_notified(fp, group["a"][fp]) for fp in order[:MAX_ALERTS_PER_NOTIFICATION]]
    labels = _common([a["labels"] for a in alerts])
    annotations = _common([a["annotations"] for a in alerts])
    first = alerts[0] if alerts else None
    text = (annotations.get("summary") or annotations.get("description")
            or (first["annotations"].get("summary") if first else None)
            or f"{len(firing)} alert(s) firing in {group['gk']}")
    return Notification(
        dedup_key=inc["key"], receiver=receiver, action=action, sequence=inc["ns"], fingerprint=group["gid"],
        severity=severity or severity_of(group, firing), title=title_of(group, firing), text=text,
        labels=labels, annotations=annotations, event_time_ms=logical_ms, created_at_ms=now_ms,
        incident_key=inc["key"], incident_status=inc["st"], reason=reason, group_key=group["gk"],
        group_labels=group["gl"], common_labels=labels, common_annotations=annotations, alerts=alerts,
        truncated_alerts=max(0, len(order) - MAX_ALERTS_PER_NOTIFICATION))


def _notified(fp: str, a: dict) -> NotifiedAlert:
    return NotifiedAlert(fingerprint=fp, status="firing" if a["s"] == "F" else "resolved", alertname=a["n"],
                         labels=a["l"], annotations=a["an"], starts_at_ms=a["sa"], ends_at_ms=a["ea"], value=a["v"])


def incident_event(group: Group, previous: str | None, reason: str, logical_ms: int, notified: list[str],
                   firing: list[str], actor: str | None = None, comment: str = "") -> IncidentEvent:
    """The IncidentEvent of the transition the group's incident just made."""
    inc = group["inc"]
    return IncidentEvent(
        incident_key=inc["key"], sequence=inc["seq"], status=inc["st"], previous_status=previous, reason=reason,
        actor=actor, comment=comment, group_key=group["gk"], group_labels=group["gl"], route=group["r"],
        receiver=inc["rcv"], escalation_policy=inc["pol"], notified=notified, title=title_of(group, firing),
        severity="critical" if inc["st"] == "CRITICAL" else severity_of(group, firing), firing=len(firing),
        fingerprints=list(group["a"])[:MAX_ALERTS_PER_NOTIFICATION], opened_at_ms=inc["op"],
        event_time_ms=logical_ms)
