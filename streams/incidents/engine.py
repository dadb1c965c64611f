"""The incident processor of one worker: routed alerts, commands and timer ticks in; records out.

Faust-free, like streams/engine.py: streams/app.py feeds it from the topics and sends what it
returns. Two steps, on two partitionings:
- `route` runs where the alert's transition arrived (alerts topic, keyed by fingerprint): the
  routing tree picks the routes, each route's group_by picks the group, and the transition is
  forwarded to the group's partition of the internal routed topic;
- `on_routed`, `on_command` and `tick` run where the group lives (routed and commands topics are
  co-partitioned, so a group's state, its alerts and the operators' commands meet on one worker).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from schemas.records import AlertEvent, Command
from schemas.series_id import group_id, incident_partition
from kernel.alerting.config import AlertingConfig
from streams.incidents.context import Context, NoSilences, Silences
from streams.incidents.escalate import due_escalation, on_command, on_timer
from streams.incidents.flush import flush
from streams.incidents.group import Group, add_alert, is_open, new_group
from streams.incidents.inhibit import InhibitIndex
from streams.incidents.outputs import Outputs
from kernel.alerting.routing import group_labels, match_routes
from streams.state import StateStore


MAX_STEPS_AT_ONCE = 100  # a worker back after a long pause catches up over a few ticks


@dataclass(frozen=True, slots=True)
class Routed:
    """One alert transition for one group (`item["g"]`), on its way to the group's partition."""

    partition: int
    item: dict


class IncidentEngine:
    """Groups, dedups, silences, inhibits and escalates; keeps group state in one store."""

    def __init__(self, config: Callable[[], AlertingConfig], store: StateStore, partitions: int,
                 inhibit: InhibitIndex | None = None, silences: Callable[[], Silences] | None = None,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.config = config
        self.store = store
        self.partitions = partitions
        self.inhibit = inhibit if inhibit is not None else InhibitIndex(config().inhibit_rules)  # an empty index is falsy
        self.silences = silences or NoSilences
        # Until the silences and the inhibiting alerts were read, a flush could page what they mute:
        # flushes wait (alerts still join their groups).
        self.ready = ready
        self.decisions: Counter = Counter()  # reason → count, drained by the caller into metrics
        self._due: dict[str, int] | None = None  # group id → next timer (flush or escalation)

    def context(self, now_ms: int) -> Context:
        """The config and indexes in force now."""
        config = self.config()
        if self.inhibit.rules != config.inhibit_rules:
            self.inhibit.set_rules(config.inhibit_rules)
        return Context(config, self.inhibit, self.silences(), now_ms)

    def route(self, event: AlertEvent) -> list[Routed]:
        """The groups an alert transition belongs to (none for PENDING: only firing alerts page)."""
        if event["status"] == "PENDING":
            return []
        labels = event["labels"]
        out = []
        for route in match_routes(self.config().route, labels):
            values = group_labels(route, labels)
            gid = group_id(route.path, values)
            out.append(Routed(incident_partition(gid, self.partitions), {
                "g": gid, "r": route.path, "gl": values, "fp": event["fingerprint"], "st": event["status"],
                "n": event["alertname"], "l": labels, "an": event["annotations"], "sa": event["starts_at_ms"],
                "ea": event["ends_at_ms"], "v": event["value"], "t": event["event_time_ms"],
                "sq": event["sequence"]}))
        return out

    def on_routed(self, items: list[dict], partition: int, now_ms: int) -> list[Outputs]:
        """Routed transitions into their groups; a group whose flush is due flushes at once."""
        ctx = self.context(now_ms)
        outs: dict[str, Outputs] = {}
        for item in items:
            gid = item["g"]
            group = self.store.get(gid)
            if group is None:
                route = ctx.route(item["r"])
                group = new_group(gid, route, item["gl"])
                self.store.put(gid, partition, group)
            route = ctx.route(group["r"])
            at = min(item["t"], now_ms)
            out = outs.get(gid) or Outputs(gid)
            if self.ready():
                self._catch_up(group, ctx, at, out)  # flushes due before this transition happen without it
            if add_alert(group, item, at, route.group_wait_ms, route.group_interval_ms):
                self.store.changed(gid)
                outs[gid] = out
            elif out:
                outs[gid] = out
        for gid, out in outs.items():
            self._step(gid, self.store.get(gid), ctx, out)
        return [out for out in outs.values() if out]

    def on_command(self, command: Command, now_ms: int) -> list[Outputs]:
        """An operator's command for an incident of a group on this worker."""
        gid = command["incident_key"].split(".", 1)[0]
        group = self.store.get(gid)
        out = Outputs(gid)
        if group is None:
            out.reasons.append("unknown_incident")
        else:
            on_command(group, command, self.context(now_ms), out)
            self.store.changed(gid)
            self._schedule(gid, group)
        self.decisions.update(out.reasons)
        return [out] if out else []

    def tick(self, now_ms: int, owned: set[int]) -> list[Outputs]:
        """Every due flush and escalation of the groups on the partitions this worker owns."""
        if not self.ready():
            return []
        if self._due is None:
            self._due = {}
            for gid in self.store.keys():
                group = self.store.get(gid)
                if group is not None:
                    self._schedule(gid, group)
        due = [gid for gid, at in self._due.items() if at <= now_ms
               and incident_partition(gid, self.partitions) in owned]
        if not due:
            return []
        ctx = self.context(now_ms)
        outs = []
        for gid in due:
            group = self.store.get(gid)
            if group is not None and (out := self._step(gid, group, ctx, Outputs(gid))):
                outs.append(out)
        return outs

    def _step(self, gid: str, group: Group, ctx: Context, out: Outputs) -> Outputs | None:
        """Take everything due for one group by now, in time order; reschedule it."""
        if self.ready():
            self._catch_up(group, ctx, ctx.now_ms, out)
        self.store.changed(gid)
        self._schedule(gid, group)
        self.decisions.update(out.reasons)
        return out if out else None

    @staticmethod
    def _catch_up(group: Group, ctx: Context, until_ms: int, out: Outputs) -> None:
        """Run the group's flushes and escalation steps due by `until_ms`, each at its own scheduled time."""
        for _ in range(MAX_STEPS_AT_ONCE):
            flush_at, escalate_at = group["fl"], due_escalation(group)
            if escalate_at is not None and escalate_at <= until_ms and (flush_at is None or escalate_at < flush_at):
                on_timer(group, escalate_at, ctx, out)
            elif flush_at is not None and flush_at <= until_ms:
                flush(group, ctx, out)
            else:
                return

    def _schedule(self, gid: str, group: Group) -> None:
        if self._due is None:
            return
        times = [t for t in (group["fl"], due_escalation(group)) if t is not None]
        if times:
            self._due[gid] = min(times)
        else:
            self._due.pop(gid, None)

    def forget_idle(self) -> int:
        """Drop from memory the groups with no alert and no open incident (the changelog keeps them)."""
        evicted = self.store.evict(lambda gid, group: bool(group["a"]) or is_open(group))
        if evicted and self._due is not None:
            self._due = {gid: at for gid, at in self._due.items() if gid in self.store.live}
        return evicted

    def reset(self) -> None:
        """Partitions moved: rebuild the timer index from the store at the next tick."""
        self._due = None
