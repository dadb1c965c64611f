"""confluent-kafka clients configured for Vigil, and topic creation."""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from kernel.settings import CommonSettings
from kernel.broker_watch import BrokerWatch

log = logging.getLogger(__name__)

# Tansu holds a group join for half the session timeout (docs/stack.md): keep it short.
GROUP_TIMEOUTS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
# Tansu answers a fetch when its max wait runs out, not when a record arrives (measured:
# ~200 ms per hop at librdkafka's 500 ms default, ~10 ms at 10 ms): every hop pays this wait.
FETCH_WAIT_MS = 20


def producer_config(settings: CommonSettings, **extra) -> dict:
    """Idempotent, acks=all producer: a delivery report means the broker has the record."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "zstd",
        "linger.ms": 5,
        "message.max.bytes": 8 * 1024 * 1024,
        **extra,
    }


class RenewableProducer:
    """A producer that a broker watch can replace with a fresh one; used wherever a Producer is.

    After the embedded broker restarted empty, an idempotent producer's state (producer id, sequence
    numbers) is void there: its next batch fails with a fatal OUT_OF_ORDER_SEQUENCE_NUMBER (measured).

    A producer that hits a fatal error renews itself too, whether poll() raises it or its error_cb
    reports it: a broker killed with a produce request in flight answers the retry UNKNOWN_PRODUCER_ID,
    a fatal error (measured); the dead producer would fail every later record.
    """

    def __init__(self, config: dict) -> None:
        self._config = config
        self._fatal: KafkaError | None = None  # reported by the current producer's error_cb
        self.current = self._make()

    def _make(self) -> Producer:
        producer: Producer | None = None

        def on_error(error: KafkaError) -> None:  # served by poll(), on the thread that polls
            if error.fatal() and producer is self.current:
                self._fatal = error
        producer = Producer({**self._config, "error_cb": on_error})
        return producer

    def renew(self) -> None:
        """Swap in a fresh producer; what the old one still held was never acknowledged, so it fails now."""
        self._fatal = None
        old, self.current = self.current, self._make()
        old.purge()
        try:
            old.poll(0)  # serve the purged messages' delivery reports: their callers hear at once
            old.flush(0)
        except KafkaException:
            pass  # a producer in a fatal state raises it again; its reports were served before

    def poll(self, timeout: float = -1) -> int:
        try:
            served = self.current.poll(timeout)
        except KafkaException as exc:
            self._renew_if_fatal(exc)
            return 0
        if self._fatal is not None:  # reported, not raised: the producer fails every record from now on
            self._renew_if_fatal(KafkaException(self._fatal))
        return served

    def produce(self, *args, **kwargs) -> None:
        try:
            self.current.produce(*args, **kwargs)
        except KafkaException as exc:
            self._renew_if_fatal(exc)
            self.current.produce(*args, **kwargs)

    def flush(self, timeout: float = -1) -> int:
        try:
            return self.current.flush(timeout)
        except KafkaException as exc:
            self._renew_if_fatal(exc)
            return self.current.flush(timeout)

    def _renew_if_fatal(self, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args else None
        if not isinstance(error, KafkaError) or not error.fatal():
            raise exc
        log.warning("Kafka producer failed for good (%s): a new one takes its place", error.str())
        self.renew()

    def __getattr__(self, name: str):  # purge, list_topics, len… of the current producer
        return getattr(self.current, name)

    def __len__(self) -> int:
        return len(self.current)


def make_producer(settings: CommonSettings, **extra) -> RenewableProducer:
    """An idempotent producer (producer_config) that the process's broker watch can renew."""
    return RenewableProducer(producer_config(settings, **extra))


def make_consumer(settings: CommonSettings, group: str, **extra) -> Consumer:
    """Consumer that commits only when told to (after the write its offsets stand for)."""
    return Consumer({
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.message.max.bytes": 8 * 1024 * 1024,
        "fetch.wait.max.ms": FETCH_WAIT_MS,
        **GROUP_TIMEOUTS,
        **extra,
    })


def ensure_topics(settings: CommonSettings) -> None:
    """Create Vigil's topics with their partition counts (Tansu would auto-create them with 4)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    topics = settings.topics
    existing = set(admin.list_topics(timeout=10).topics)
    # Rules and silences are compacted: the latest record per id is the thing (deletes are records).
    # The streams workers' own topics and the commands topic are co-partitioned with the metrics
    # topic (same count), so the incident state and the commands for it live on one partition.
    partitioned = (topics.metrics, topics.metrics_v1, topics.heartbeats, topics.routed, topics.commands)
    compacted = (topics.rules, topics.silences)
    names = topics.all() + ([topics.metrics_v1] if settings.metrics_v1_topic else [])
    wanted = [NewTopic(name, num_partitions=settings.metrics_partitions if name in partitioned else 4,
                       replication_factor=1, config={"cleanup.policy": "compact"} if name in compacted else {})
              for name in names if name not in existing]
    if not wanted:
        return
    for future in admin.create_topics(wanted, operation_timeout=10).values():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def topic_ids(settings: CommonSettings, topics: list[str]) -> dict[str, str]:
    """Each topic's id: a new id means the topic was created again (the embedded broker restarted empty)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    futures = admin.describe_topics(TopicCollection(topics), request_timeout=10)
    return {topic: str(future.result().topic_id) for topic, future in futures.items()}


def broker_watch(settings: CommonSettings) -> BrokerWatch:
    """A watch (not started) that re-creates Vigil's topics after the embedded broker restarted empty."""
    return BrokerWatch(settings.kafka_bootstrap, settings.topics.all(), lambda: ensure_topics(settings))


def delete_topics(settings: CommonSettings) -> None:
    """Drop a prefix's topics (Tansu keeps everything in memory; tests free theirs)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    names = [t for t in existing if t.startswith(settings.topic_prefix + ".")]
    for future in admin.delete_topics(names, operation_timeout=10).values() if names else []:
        try:
            future.result()
        except KafkaException:
            pass
