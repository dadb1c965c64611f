"""The incident state machine: New → Acknowledged → Resolved; New → Escalated → Critical on timeouts.

Escalation follows the route's escalation policy (`escalate_after`, default 15 min, then
`critical_after`, default 5 min): each step pages the policy's receivers for that level (the
route's receiver again when the level names none) and is an IncidentEvent. Acknowledging stops
the timers; resolving closes the incident. Operators' commands arrive on the commands topic.
Timers are absolute times in the group's state, so they survive a restart of the worker.
"""

from __future__ import annotations

from schemas.records import Command
from streams.incidents.context import Context
from streams.incidents.group import MAX_COMMAND_IDS, Group, incident_event, is_open, notification
from streams.incidents.outputs import Outputs
from streams.incidents.reasons import Reason

NEXT_LEVEL = {"OPEN": "ESCALATED", "ACKNOWLEDGED": "ESCALATED", "ESCALATED": "CRITICAL"}


def firing_of(group: Group) -> list[str]:
    """Fingerprints of the group's firing alerts."""
    return [fp for fp, a in group["a"].items() if a["s"] == "F"]


def transition(group: Group, ctx: Context, out: Outputs, status: str, reason: str, logical_ms: int,
               receivers: list[str], action: str, severity: str | None = None, actor: str | None = None,
               comment: str = "") -> None:
    """Move the incident to `status`, page `receivers` about it, and record the IncidentEvent."""
    inc = group["inc"]
    previous = inc["st"] if inc["seq"] else None
    inc["st"] = status
    inc["seq"] += 1
    notified = page(group, out, ctx, receivers, action, reason, logical_ms, severity)
    out.events.append(incident_event(group, previous, reason, logical_ms, notified, firing_of(group), actor, comment))
    out.reasons.append(reason)


def page(group: Group, out: Outputs, ctx: Context, receivers: list[str], action: str, reason: str,
         logical_ms: int, severity: str | None = None) -> list[str]:
    """One Notification per receiver (one sequence number for them all); remembers who was paged."""
    if not receivers:
        return []
    inc = group["inc"]
    inc["ns"] += 1
    firing = firing_of(group)
    severity = severity or ("critical" if inc["st"] == "CRITICAL" else None)
    for receiver in receivers:
        out.notes.append(notification(group, receiver, action, reason, logical_ms, ctx.now_ms, firing, severity))
        if receiver not in inc["pg"]:
            inc["pg"].append(receiver)
    return receivers


def receivers_for(ctx: Context, out: Outputs, names, at_ms: int) -> list[str]:
    """The receivers these targets name at `at_ms` (schedules resolved); notes when a schedule had nobody."""
    receivers, everyone = ctx.targets(names, at_ms)
    if not everyone:
        out.reasons.append(Reason.NOBODY_ON_CALL)
    return receivers


def schedule_escalation(group: Group, ctx: Context, from_ms: int) -> None:
    """Arm the escalate_after timer of a (re)opened incident."""
    inc = group["inc"]
    inc["ea"], inc["ca"] = from_ms + ctx.config.policy(inc["pol"]).escalate_after_ms, None


def escalate(group: Group, ctx: Context, out: Outputs, logical_ms: int, reason: str = "",
             actor: str | None = None, comment: str = "") -> None:
    """Move an open incident one level up and page that level's receivers."""
    inc = group["inc"]
    status = NEXT_LEVEL.get(inc["st"])
    if status is None:
        return
    policy = ctx.config.policy(inc["pol"])
    level = policy.escalated_receivers if status == "ESCALATED" else policy.critical_receivers
    receivers = receivers_for(ctx, out, level or (inc["rcv"],), logical_ms)
    reason = reason or (Reason.ESCALATED if status == "ESCALATED" else Reason.CRITICAL)
    inc["ea"] = None
    inc["ca"] = logical_ms + policy.critical_after_ms if status == "ESCALATED" else None
    transition(group, ctx, out, status, reason, logical_ms, receivers, "TRIGGER",
               "critical" if status == "CRITICAL" else None, actor, comment)


def due_escalation(group: Group) -> int | None:
    """When the open incident's next escalation step is due (None: no timer armed)."""
    inc = group.get("inc")
    if inc is None:
        return None
    if inc["st"] == "OPEN":
        return inc.get("ea")
    if inc["st"] == "ESCALATED":
        return inc.get("ca")
    return None


def on_timer(group: Group, due_ms: int, ctx: Context, out: Outputs) -> None:
    """Take the escalation step that was due at `due_ms`, stamped with that time."""
    escalate(group, ctx, out, due_ms)


def on_command(group: Group, command: Command, ctx: Context, out: Outputs) -> None:
    """Apply an operator's acknowledge/resolve/escalate to the group's current incident."""
    if command["command_id"] in group["cmd"]:
        out.reasons.append(Reason.DUPLICATE_COMMAND)
        return
    group["cmd"] = (group["cmd"] + [command["command_id"]])[-MAX_COMMAND_IDS:]
    inc = group.get("inc")
    if inc is None or inc["key"] != command["incident_key"]:
        out.reasons.append(Reason.STALE_COMMAND)
        return
    if not is_open(group):
        out.reasons.append(Reason.NO_OPEN_INCIDENT)
        return
    at = max(command["issued_at_ms"], inc["op"])
    actor, comment = command["actor"], command["comment"]
    if command["action"] == "ACKNOWLEDGE":
        if inc["st"] == "ACKNOWLEDGED":
            out.reasons.append(Reason.NOTHING_CHANGED)
            return
        inc["ea"] = inc["ca"] = None
        transition(group, ctx, out, "ACKNOWLEDGED", Reason.ACKNOWLEDGED, at, list(inc["pg"]), "ACKNOWLEDGE",
                   actor=actor, comment=comment)
    elif command["action"] == "RESOLVE":
        resolve(group, ctx, out, Reason.RESOLVED_BY_COMMAND, at, actor, comment)
    else:
        escalate(group, ctx, out, at, Reason.ESCALATED if NEXT_LEVEL.get(inc["st"]) == "ESCALATED" else
                 Reason.CRITICAL, actor, comment)


def resolve(group: Group, ctx: Context, out: Outputs, reason: str, logical_ms: int, actor: str | None = None,
            comment: str = "") -> None:
    """Close the incident: RESOLVE to everyone paged during it."""
    inc = group["inc"]
    inc["ea"] = inc["ca"] = None
    transition(group, ctx, out, "RESOLVED", reason, logical_ms, list(inc["pg"]), "RESOLVE", actor=actor,
               comment=comment)
