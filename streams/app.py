"""The Faust app: thin agents that feed the rules engine from the topics and send what it returns."""

from __future__ import annotations

import json
import logging
import time

import faust
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from kernel.settings import StreamsSettings
from schemas import codec
from schemas.topics import streams_group
from streams import transport
from streams.engine import Emit, Engine, Heartbeat
from streams.incidents import agents as incident_agents
from streams.query import QueryEvaluator, VictoriaStorage, recorded_batches
from streams.rules_feed import RulesFeed
from streams.state import StateStore

log = logging.getLogger(__name__)

SAMPLES = Counter("vigil_streams_rule_samples_total", "Samples evaluated against a rule, by outcome", ["outcome"])
EVENTS = Counter("vigil_streams_alert_events_total", "AlertEvents sent, by status", ["status"])
RULES = Gauge("vigil_streams_rules", "Rules this worker evaluates")
CHECKPOINTS = Counter("vigil_streams_state_writes_total", "Alert states written to the changelog")
EVICTED = Counter("vigil_streams_states_evicted_total", "Idle alert states dropped from memory")


def _now_ms() -> int:
    return int(time.time() * 1000)


def build_app(settings: StreamsSettings, feed: RulesFeed, incident_engine_of) -> faust.App:
    """A Faust app for one topic prefix; nothing connects until a worker starts it.

    `incident_engine_of(store)` builds the incident processor around its state store.
    """
    topics = settings.topics
    partitions = settings.metrics_partitions
    app = faust.App(
        streams_group(settings.topic_prefix),  # the consumer group id: ingest reads its offsets
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",  # state is rebuilt from the changelog topics at start
        datadir=str(settings.data_dir),
        topic_partitions=partitions,
        table_standby_replicas=0,  # a worker's tables hold exactly the partitions it evaluates
        # Tansu holds group joins for half the session timeout (docs/stack.md).
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        # Committed offsets are ingest's measure of evaluation lag (ingest/evaluation_lag.py): Faust's 2.8 s
        # default would read as 2.8 s of lag on a worker that keeps up.
        broker_commit_interval=settings.streams_commit_interval_s,
        consumer_auto_offset_reset="earliest",
        web_bind="127.0.0.1",
        web_port=settings.streams_web_port,
        web_host="127.0.0.1",
    )
    transport.install(app)
    raw = dict(key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
    metrics = app.topic(topics.metrics, partitions=partitions, **raw)
    heartbeats = app.topic(topics.heartbeats, partitions=partitions, **raw)
    alerts = app.topic(topics.alerts, **raw)
    # Co-partitioned with the metrics topic (per-series alerts) and the heartbeat topic (absence
    # groups): each state is written to the changelog partition of the input it came from.
    state_schema = faust.Schema(key_serializer="json", value_serializer="raw")  # values: orjson bytes
    series = StateStore(app.Table("alert-state", default=None, partitions=partitions, schema=state_schema),
                        settings.state_checkpoint_s)
    groups = StateStore(app.Table("absence-state", default=None, partitions=partitions, schema=state_schema),
                        settings.state_checkpoint_s)
    engine = Engine(feed, series, groups, partitions, int(settings.allowed_lateness_s * 1000),
                    int(settings.state_idle_s * 1000), external_labels=settings.external_labels,
                    external_url=settings.external_url)
    # Query rule groups: state on the metrics partition each group hashes to (streams/query/groups.py).
    query_state = StateStore(app.Table("query-state", default=None, partitions=partitions, schema=state_schema),
                             settings.state_checkpoint_s)
    query = QueryEvaluator(feed, query_state, partitions, VictoriaStorage(settings.tsdb_url, settings.query_timeout_s),
                           int(settings.query_lookback_s * 1000), external_labels=settings.external_labels,
                           external_url=settings.external_url)
    batch_codec, alert_codec = codec.series_batch(), codec.alert_event()
    incidents = incident_agents.install(app, settings, incident_engine_of, state_schema)

    async def emit(emits: list[Emit]) -> None:
        """Send each AlertEvent (and forward it to its incident groups), wait for the broker, then write
        the alert's state: a crash in between replays the event rather than losing the page."""
        pending = []
        for item in emits:
            item.store.hold(item.key)
            e = item.event
            log.info("alert %s %s %s seq=%d", e["alertname"], e["status"], e["fingerprint"], e["sequence"])
            pending.append(await alerts.send(key=e["fingerprint"].encode(), value=alert_codec.encode(e)))
        routed = await incidents.forward([item.event for item in emits])  # to their incident groups
        for sent in pending:
            await sent
        for sent in routed:
            await sent
        for item in emits:
            item.store.write(item.key)
            EVENTS.labels(item.event["status"]).inc()

    async def checkpoint(force: bool = False) -> None:
        CHECKPOINTS.inc(series.checkpoint(force) + groups.checkpoint(force) + query_state.checkpoint(force))
        for store in (series, groups, query_state):
            await store.seal(app.producer._producer)  # Faust's aiokafka producer, for its batch API

    async def before_commit() -> None:
        """The offsets about to be committed stand for state changes: write them first."""
        await checkpoint(force=True)

    transport.before_commit(app, before_commit)

    @app.agent(metrics)
    async def evaluate(stream):
        """SeriesBatch → rule evaluation → AlertEvents (awaited: offsets commit after the send)."""
        async for message in stream.events():
            batch = batch_codec.columns(message.value)
            result = engine.on_columns(batch, message.message.partition, _now_ms())
            await emit(result.emits)
            for beat in result.heartbeats:
                await heartbeats.send(key=beat.key.encode(), partition=beat.partition, value=json.dumps(
                    [beat.rule_id, beat.labels, beat.ts, beat.arrived_ms]).encode())
            await checkpoint()
            for outcome, count in result.outcomes.items():
                SAMPLES.labels(outcome).inc(count)

    @app.agent(heartbeats)
    async def absences(stream):
        """Absence heartbeats of the groups this worker owns → resolutions."""
        async for message in stream.events():
            rule_id, labels, ts, arrived_ms = json.loads(message.value)
            beat = Heartbeat(message.key.decode(), message.message.partition, rule_id, labels, ts, arrived_ms)
            await emit(engine.on_heartbeats([beat], message.message.partition))
            await checkpoint()

    @app.timer(1.0)
    async def tick():
        """Absences that are due, alerts of deleted rules; checkpoint what is left."""
        RULES.set(len(feed.index))
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        assigned = app.assignor.assigned_actives()
        owned_series = {tp.partition for tp in assigned if tp.topic == topics.metrics}
        owned_groups = {tp.partition for tp in assigned if tp.topic == topics.heartbeats}
        await emit(engine.tick(_now_ms(), owned_series, owned_groups))
        await checkpoint()
        EVICTED.inc(engine.evict_idle())

    @app.timer(settings.query_tick_s)
    async def evaluate_queries():
        """Query rule groups of the partitions this worker owns, each at its interval → AlertEvents, recorded samples."""
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.metrics}
        out = await query.tick(_now_ms(), owned)
        await emit(out.emits)
        for partition, value in recorded_batches(out.samples, partitions, _now_ms()):
            await metrics.send(key=str(partition).encode(), partition=partition, value=value)
        await checkpoint()

    @app.on_partitions_revoked.connect
    async def forget(app, revoked, **kwargs):
        """Partitions move: write what changed, then drop the live view (states come back from the tables)."""
        await checkpoint(force=True)
        series.reset()
        groups.reset()
        query_state.reset()
        query.reset()

    app.state_stores = {"alert-state": series, "absence-state": groups, "query-state": query_state,
                        "incident-state": incidents.engine.store}  # for streams/broker_reset.py

    @app.page("/healthz")
    async def healthz(web, request):
        """200 once partitions are assigned, state is recovered and the rules topic was read."""
        ready = not app.rebalancing and app.tables.recovery.completed.is_set() and feed.caught_up.is_set()
        body = {"status": "ok" if ready else "starting", "rules": len(feed.index),
                "inhibiting_alerts": len(incidents.engine.inhibit), "query_evaluator": query.describe()}
        return web.json(body, status=200 if ready else 503)

    @app.page("/metrics")
    async def prometheus_metrics(web, request):
        """This worker's counters in the Prometheus text format."""
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app
