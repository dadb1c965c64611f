"""The Faust app: thin agents around the pure stages (threshold.step, route.to_notification)."""

from __future__ import annotations

import logging
import time

import faust

from infra.settings import StreamsSettings
from schemas import codec
from streams import transport
from streams.route import to_notification
from streams.rules import RuleIndex
from streams.threshold import alert_fingerprint, step

log = logging.getLogger(__name__)
FINGERPRINT_CACHE_MAX = 200_000


def build_app(settings: StreamsSettings, rules: RuleIndex) -> faust.App:
    """A Faust app for one topic prefix; nothing connects until a worker starts it."""
    topics = settings.topics
    app = faust.App(
        f"{settings.topic_prefix}-streams",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",  # state is rebuilt from the changelog topic at start
        datadir=str(settings.data_dir),
        topic_partitions=settings.metrics_partitions,
        # Tansu holds group joins for half the session timeout (STACK.md).
        broker_session_timeout=6,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        web_bind="127.0.0.1",
        web_port=settings.streams_web_port,
        web_host="127.0.0.1",
    )
    transport.install(app)
    metrics = app.topic(topics.metrics, key_type=bytes, value_type=bytes, value_serializer="raw",
                        key_serializer="raw", partitions=settings.metrics_partitions)
    alerts = app.topic(topics.alerts, key_type=bytes, value_type=bytes, value_serializer="raw",
                       key_serializer="raw")
    notifications = app.topic(topics.notifications, key_type=bytes, value_type=bytes,
                              value_serializer="raw", key_serializer="raw")
    # Alert state per fingerprint, co-partitioned with the metrics topic: Faust writes each
    # change to the changelog partition of the event being processed.
    state = app.Table("alert-state", default=None, partitions=settings.metrics_partitions,
                      schema=faust.Schema(key_serializer="json", value_serializer="json"))
    batch_codec, alert_codec, notification_codec = codec.metric_batch(), codec.alert_event(), codec.notification()
    fingerprints: dict[tuple[str, int], str] = {}

    @app.agent(metrics)
    async def evaluate(stream):
        """MetricBatch → rule transitions → AlertEvents (awaited: offsets commit after the send)."""
        async for event in stream.events():
            batch = batch_codec.decode(event.value)
            for sample in batch["samples"]:
                for rule in rules.for_metric(sample["name"]):
                    if not rule.matches(sample["labels"]):
                        continue
                    cache_key = (rule.id, sample["series_id"])
                    key = fingerprints.get(cache_key)
                    if key is None:
                        if len(fingerprints) > FINGERPRINT_CACHE_MAX:
                            fingerprints.clear()
                        key = fingerprints[cache_key] = alert_fingerprint(rule, sample)
                    result = step(rule, sample, state.get(key), key)
                    if result.state is not None:
                        state[key] = result.state
                    if result.event is not None:
                        log.info("alert %s %s %s seq=%d", result.event["alertname"], result.event["status"],
                                 key, result.event["sequence"])
                        sent = await alerts.send(key=key.encode(), value=alert_codec.encode(result.event))
                        await sent

    @app.agent(alerts)
    async def route(stream):
        """AlertEvent → Notification for the default receiver."""
        async for event in stream.events():
            alert = alert_codec.decode(event.value)
            note = to_notification(alert, settings.default_receiver, int(time.time() * 1000))
            if note is not None:
                sent = await notifications.send(key=note["dedup_key"].encode(),
                                                value=notification_codec.encode(note))
                await sent

    @app.page("/healthz")
    async def healthz(web, request):
        """200 once partitions are assigned and table state is recovered: the worker is processing."""
        ready = not app.rebalancing and app.tables.recovery.completed.is_set()
        body = {"status": "ok" if ready else "starting", "rules": len(rules)}
        return web.json(body, status=200 if ready else 503)

    return app
