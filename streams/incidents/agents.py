"""The incident processor's Faust agents: thin loops that feed the IncidentEngine and send what it returns.

The rules engine's agents hand every AlertEvent they sent to `forward`: the routing tree and
group_by pick its groups, and the transitions go to the routed topic as one record per group
partition per batch (a Faust worker pays ~0.2 ms per record, docs/stack.md, so single transitions
would cap a worker near 4k/s) → `group` (+ `command` from the commands topic, co-partitioned)
→ incidents and notifications topics. A 1-second timer runs due flushes and escalations. Each group's state is written after
the records it produced were acknowledged (event first: a crash replays, never loses), and every
other change just before the input offsets are committed, as for the alert states.
"""

from __future__ import annotations

import logging
import time

import faust
import orjson
from prometheus_client import Counter, Gauge

from kernel.settings import StreamsSettings
from schemas import codec
from schemas.records import AlertEvent
from streams import transport
from streams.incidents.engine import IncidentEngine
from streams.incidents.outputs import Outputs
from streams.incidents.reasons import PAGING
from streams.state import StateStore

log = logging.getLogger(__name__)

DECISIONS = Counter("vigil_streams_incident_decisions_total", "Incident decisions, by reason", ["reason"])
INCIDENT_EVENTS = Counter("vigil_streams_incident_events_total", "IncidentEvents sent, by status", ["status"])
NOTIFICATIONS = Counter("vigil_streams_notifications_total", "Notifications sent, by action", ["action"])
ROUTED = Counter("vigil_streams_routed_transitions_total", "Alert transitions taken into incident groups")
GROUPS = Gauge("vigil_streams_incident_groups", "Incident groups held by this worker")


FORGET_EVERY_S = 60.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class Forwarder:
    """Sends alert transitions to their groups' partitions (called by the rules engine's agents)."""

    def __init__(self, engine: IncidentEngine, routed: faust.TopicT) -> None:
        self.engine = engine
        self._routed = routed

    async def forward(self, events: list[AlertEvent]) -> list:
        """One routed record per group partition; returns the send futures (await them before committing)."""
        by_partition: dict[int, list[dict]] = {}
        for event in events:
            for r in self.engine.route(event):
                by_partition.setdefault(r.partition, []).append(r.item)
        return [await self._routed.send(key=str(p).encode(), partition=p, value=orjson.dumps(items))
                for p, items in by_partition.items()]


def install(app: faust.App, settings: StreamsSettings, engine_of, state_schema: faust.Schema) -> Forwarder:
    """Add the incident agents to `app`; `engine_of(store)` builds the engine around the group store."""
    topics = settings.topics
    partitions = settings.metrics_partitions
    raw = dict(key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
    routed = app.topic(topics.routed, partitions=partitions, **raw)
    commands = app.topic(topics.commands, partitions=partitions, **raw)
    incidents = app.topic(topics.incidents, **raw)
    notifications = app.topic(topics.notifications, **raw)
    store = StateStore(app.Table("incident-state", default=None, partitions=partitions, schema=state_schema),
                       settings.state_checkpoint_s)
    engine: IncidentEngine = engine_of(store)
    command_codec = codec.command()
    event_codec, note_codec = codec.incident_event(), codec.notification()

    async def emit(outs: list[Outputs]) -> None:
        """Send each group's records, wait for the broker, then write the group's state."""
        pending = []
        for out in outs:
            store.hold(out.gid)
            for e in out.events:
                log.info("incident %s %s (%s) firing=%d", e["incident_key"], e["status"], e["reason"], e["firing"])
                pending.append(await incidents.send(key=e["incident_key"].encode(), value=event_codec.encode(e)))
                INCIDENT_EVENTS.labels(e["status"]).inc()
            for n in out.notes:
                pending.append(await notifications.send(key=n["dedup_key"].encode(), value=note_codec.encode(n)))
                NOTIFICATIONS.labels(n["action"]).inc()
        for sent in pending:
            await sent
        for out in outs:
            store.write(out.gid)
            for reason in out.reasons:
                if reason in PAGING:
                    continue
                log.debug("group %s: %s", out.gid, reason)
        for reason, count in engine.decisions.items():
            DECISIONS.labels(reason).inc(count)
        engine.decisions.clear()

    async def checkpoint(force: bool = False) -> None:
        store.checkpoint(force)
        await store.seal(app.producer._producer)

    async def before_commit() -> None:
        await checkpoint(force=True)

    transport.before_commit(app, before_commit)

    @app.agent(routed)
    async def group(stream):
        """Routed alert transitions → group state; flushes that are due (group_wait 0) run at once."""
        async for message in stream.events():
            items = orjson.loads(message.value)
            await emit(engine.on_routed(items, message.message.partition, _now_ms()))
            ROUTED.inc(len(items))
            await checkpoint()

    @app.agent(commands)
    async def command(stream):
        """Operators' acknowledge/resolve/escalate from the API."""
        async for message in stream.events():
            cmd = command_codec.decode(message.value)
            log.info("command %s %s on %s by %s", cmd["command_id"], cmd["action"], cmd["incident_key"], cmd["actor"])
            await emit(engine.on_command(cmd, _now_ms()))
            await checkpoint()

    forgotten = [time.monotonic()]

    @app.timer(1.0)
    async def incident_timers():
        """Due group flushes (group_wait, group_interval, repeat) and escalations."""
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.routed}
        await emit(engine.tick(_now_ms(), owned))
        await checkpoint()
        if time.monotonic() - forgotten[0] > FORGET_EVERY_S:
            forgotten[0] = time.monotonic()
            engine.forget_idle()
        GROUPS.set(len(store.live))

    @app.on_partitions_revoked.connect
    async def forget_groups(app, revoked, **kwargs):
        """Partitions move: write what changed, then rebuild from the table."""
        await checkpoint(force=True)
        store.reset()
        engine.reset()

    return Forwarder(engine, routed)
