"""A group flush: Alertmanager's notification pipeline for one group, as one short chain of stages.

inhibit + silence (which firing alerts may page) → time mute (may the route page now) → dedup
(is there news) → open, page or resolve the incident. Runs at the flush time the group
scheduled (group_wait after its first alert, then every group_interval while it holds alerts).
"""

from __future__ import annotations

from streams.incidents.context import Context
from streams.incidents.dedup import decide
from streams.incidents.escalate import firing_of, page, receivers_for, resolve, schedule_escalation, transition
from streams.incidents.group import Group, Incident, is_open
from streams.incidents.outputs import Outputs
from streams.incidents.reasons import Reason

MUTED_RECHECK_MS = 60_000  # a muted route with group_interval 0 looks again this often


def suppress(group: Group, firing: list[str], ctx: Context, at_ms: int) -> tuple[list[str], str | None]:
    """The firing alerts neither inhibited nor silenced at `at_ms`, and why any were left out."""
    notifiable, reason = [], None
    for fp in firing:
        labels = group["a"][fp]["l"]
        if ctx.inhibit.inhibited(fp, labels):
            reason = Reason.INHIBITED
        elif ctx.silences.silenced_by(labels, at_ms):
            reason = reason or Reason.SILENCED
        else:
            notifiable.append(fp)
    return notifiable, reason


def flush(group: Group, ctx: Context, out: Outputs) -> None:
    """Flush the group at its scheduled time; schedules the next flush."""
    at = group["fl"]
    route = ctx.route(group["r"])
    firing = firing_of(group)
    notifiable, suppressed = suppress(group, firing, ctx, at)
    if ctx.config.muted(route, at):
        out.reasons.append(Reason.MUTED)
        group["fl"] = at + (route.group_interval_ms or MUTED_RECHECK_MS)
        return
    reason = decide(group, firing, notifiable, suppressed, at, route.repeat_interval_ms)
    pages_before = len(out.notes)
    if reason == Reason.FIRST_NOTIFICATION:
        # <group id>.<opened at, ms>: unique even after the embedded broker forgot every group's state
        # (Postgres remembers earlier incidents of the group), and the same when a worker replays.
        group["inc"] = Incident(key=f"{group['gid']}.{at}", st="OPEN", seq=0, ns=0, op=at, ea=None,
                                ca=None, pg=[], pol=route.escalation_policy, rcv=route.receiver)
        schedule_escalation(group, ctx, at)
        transition(group, ctx, out, "OPEN", reason, at, receivers_for(ctx, out, [route.receiver], at), "TRIGGER")
    elif reason == Reason.ALL_ALERTS_RESOLVED:
        resolve(group, ctx, out, reason, at)
    elif reason in (Reason.GROUP_CHANGED, Reason.REPEAT_INTERVAL_ELAPSED):
        page(group, out, ctx, receivers_for(ctx, out, [route.receiver, *group["inc"]["pg"]], at), "TRIGGER", reason,
             at)
        out.reasons.append(reason)
    else:
        out.reasons.append(reason)
    if len(out.notes) > pages_before:
        group["nf"], group["ln"] = notifiable, at
    else:  # forget paged alerts that stopped firing
        group["nf"] = [fp for fp in group["nf"] if fp in group["a"] and group["a"][fp]["s"] == "F"]
    for fp in [fp for fp, a in group["a"].items() if a["s"] == "R"]:
        del group["a"][fp]  # resolved alerts leave the group once flushed, as in Alertmanager
    group["fl"] = next_flush(group, route.group_interval_ms, route.repeat_interval_ms, at)


def next_flush(group: Group, interval_ms: int, repeat_ms: int, at_ms: int) -> int | None:
    """Every group_interval while the group holds alerts. With group_interval 0 a group flushes on
    each change (add_alert schedules it), and otherwise only when the repeat interval comes due."""
    if not group["a"]:
        return None
    if interval_ms > 0:
        return at_ms + interval_ms
    return group["ln"] + repeat_ms if is_open(group) and group["ln"] is not None else None
