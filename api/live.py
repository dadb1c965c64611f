"""Live alert and incident changes inside the API process: one consumer thread, fanned out to subscribers.

`GET /api/v1/stream` needs every change as it happens, on every API replica, and nothing from
before: so the feed is a plain assigned consumer (a group id of its own, nothing ever committed)
reading the alerts and incidents topics from their end. Tansu's ListOffsets(latest) answers the
last batch's base offset + 1 (docs/stack.md), so a feed that just (re)started re-reads the tail of the
last batch; per partition it drops records stamped (Kafka timestamp) before it started, until
the first newer one arrives.

Each subscriber gets its own queue of the events its filter accepts, handed over to the event
loop with `call_soon_threadsafe`. The queue is bounded: a subscriber that falls `queue_limit`
events behind gets one final OVERFLOW event and is dropped (its client reconnects and re-reads
the current state), so a slow client never makes the API hold unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from confluent_kafka import OFFSET_END, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaException, TopicPartition

from api.metrics import STREAM_EVENTS, STREAM_OVERFLOWS, STREAM_SUBSCRIBERS
from api.models.stream import AlertChange, IncidentChange
from kernel.kafka import FETCH_WAIT_MS
from schemas import codec
from schemas.records import AlertEvent, IncidentEvent
from schemas.topics import Topics

log = logging.getLogger(__name__)

ALERT = "alert"
INCIDENT = "incident"
OVERFLOW = "overflow"
CLOSED = "closed"  # the server is shutting down: the stream ends (never sent to the client)
KINDS = (ALERT, INCIDENT)
RETRY_S = 2.0
BATCH = 500
POLL_S = 0.25
TOPIC_WAIT_S = 10.0
DEFAULT_QUEUE_LIMIT = 1000



@dataclass(frozen=True)
class LiveEvent:
    """One change as subscribers see it: what filters look at, and `data` (JSON-able) for the client."""

    kind: str  # ALERT, INCIDENT or OVERFLOW
    id: str  # "<fingerprint or incident key>:<sequence>", unique per transition
    status: str = ""
    severity: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # an alert's labels, an incident's group labels
    data: dict = field(default_factory=dict)


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def alert_change(record: AlertEvent) -> LiveEvent:
    """The live event of one AlertEvent record."""
    value = record["value"] if math.isfinite(record["value"]) else None  # JSON has no NaN/Inf
    severity = record["labels"].get("severity", "")  # as the Postgres sink stores it
    data = AlertChange(fingerprint=record["fingerprint"], sequence=record["sequence"], status=record["status"],
                       rule_id=record["rule_id"], rule_version=record["rule_version"],
                       alertname=record["alertname"], severity=severity, labels=record["labels"],
                       annotations=record["annotations"], value=value, starts_at=_at(record["starts_at_ms"]),
                       ends_at=_at(record["ends_at_ms"]), event_time=_at(record["event_time_ms"]))
    return LiveEvent(ALERT, f"{record['fingerprint']}:{record['sequence']}", record["status"], severity,
                     record["labels"], data.model_dump(mode="json"))


def incident_change(record: IncidentEvent) -> LiveEvent:
    """The live event of one IncidentEvent record."""
    data = IncidentChange(**{name: record[name] for name in IncidentChange.model_fields if name in record},
                          opened_at=_at(record["opened_at_ms"]), event_time=_at(record["event_time_ms"]))
    return LiveEvent(INCIDENT, f"{record['incident_key']}:{record['sequence']}", record["status"],
                     record["severity"], record["group_labels"], data.model_dump(mode="json"))


class Subscription:
    """One client's queue of the events its filter accepts; ends with OVERFLOW when it falls too far behind."""

    def __init__(self, accept: Callable[[LiveEvent], bool], limit: int) -> None:
        self.accept = accept
        self.limit = limit
        # Bounded by `offer`, not by the queue: the OVERFLOW marker must still fit once the limit is hit.
        self._queue: asyncio.Queue[LiveEvent] = asyncio.Queue()
        self.overflowed = False

    def offer(self, event: LiveEvent) -> bool:
        """Queue the event if the filter takes it; False (after queueing OVERFLOW) when the queue is full."""
        if self.overflowed:
            return False
        if not self.accept(event):
            return True
        if self._queue.qsize() >= self.limit:
            self.overflowed = True
            self._queue.put_nowait(LiveEvent(OVERFLOW, f"overflow:{event.id}", data={
                "detail": f"this client fell {self.limit} events behind and was dropped; reconnect and reload",
                "limit": self.limit}))
            return False
        self._queue.put_nowait(event)
        return True

    def close(self) -> None:
        """End the subscription: its reader gets CLOSED after what is queued."""
        self._queue.put_nowait(LiveEvent(CLOSED, CLOSED))

    async def next(self) -> LiveEvent:
        """The next event, waiting for one (OVERFLOW or CLOSED is the last one)."""
        return await self._queue.get()

    def pending(self) -> int:
        """Events queued and not yet taken."""
        return self._queue.qsize()


class LiveFeed:
    """Reads the alerts and incidents topics in a thread from their end and fans changes out to subscribers."""

    def __init__(self, bootstrap: str, topics: Topics, queue_limit: int = DEFAULT_QUEUE_LIMIT,
                 heartbeat_s: float = 15.0, now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._bootstrap = bootstrap
        self._topics = {topics.alerts: (ALERT, codec.alert_event(), alert_change),
                        topics.incidents: (INCIDENT, codec.incident_event(), incident_change)}
        self.queue_limit = queue_limit
        self.heartbeat_s = heartbeat_s  # how often a quiet stream shows its client it is alive
        self._now_ms = now_ms
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)

    # --- event loop side ---

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading; changes are delivered on `loop` (the API's event loop)."""
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and wait for the thread (at most 10 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def subscribe(self, accept: Callable[[LiveEvent], bool]) -> Subscription:
        """A new subscription receiving the changes `accept` takes, from now on (call on the event loop)."""
        subscription = Subscription(accept, self.queue_limit)
        self._subscribers.add(subscription)
        STREAM_SUBSCRIBERS.set(len(self._subscribers))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (its client went away); harmless if it was dropped already."""
        self._subscribers.discard(subscription)
        STREAM_SUBSCRIBERS.set(len(self._subscribers))

    def close_all(self) -> None:
        """End every subscription, so open streams finish (the server is stopping); safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._close_all)

    def _close_all(self) -> None:
        for subscription in list(self._subscribers):
            subscription.close()
            self.unsubscribe(subscription)

    @property
    def subscribers(self) -> int:
        """How many subscriptions receive changes now."""
        return len(self._subscribers)

    def deliver(self, events: list[LiveEvent]) -> None:
        """Offer each event to every subscriber, dropping those that overflow (call on the event loop)."""
        for event in events:
            for subscription in list(self._subscribers):
                if not subscription.offer(event):
                    STREAM_OVERFLOWS.inc()
                    log.warning("a live-stream client fell %d events behind and was dropped", subscription.limit)
                    self.unsubscribe(subscription)

    # --- consumer thread side ---

    def _run(self) -> None:
        """Read until stopped; after a broker error, start again from the end (changes meanwhile are missed)."""
        while not self._stop.is_set():
            try:
                self._read()
            except KafkaException as exc:
                log.warning("the live feed lost the broker, retrying in %.0f s: %s", RETRY_S, exc)
                self._stop.wait(RETRY_S)

    def _partitions(self, consumer: Consumer) -> list[TopicPartition] | None:
        """Every partition of both topics at their end; None while a topic doesn't exist yet."""
        metadata = consumer.list_topics(timeout=TOPIC_WAIT_S).topics
        partitions = []
        for topic in self._topics:
            if topic not in metadata or not metadata[topic].partitions:
                return None
            partitions += [TopicPartition(topic, p, OFFSET_END) for p in metadata[topic].partitions]
        return partitions

    def _read(self) -> None:
        consumer = Consumer({"bootstrap.servers": self._bootstrap, "group.id": f"vigil-api-live-{uuid.uuid4().hex}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": FETCH_WAIT_MS})
        try:
            started_ms = self._now_ms()
            partitions = self._partitions(consumer)
            while partitions is None:  # the API creates the topics at start (main._republish)
                if self._stop.wait(RETRY_S):
                    return
                started_ms = self._now_ms()
                partitions = self._partitions(consumer)
            consumer.assign(partitions)
            settled: set[tuple[str, int]] = set()  # partitions past the re-read tail of their last batch
            log.info("live feed reading %d partitions from their end", len(partitions))
            while not self._stop.is_set():
                events = []
                for message in consumer.consume(BATCH, timeout=POLL_S):
                    if message.error() or message.value() is None:
                        continue
                    where = (message.topic(), message.partition())
                    if where not in settled:
                        kind, stamp = message.timestamp()
                        if kind != TIMESTAMP_NOT_AVAILABLE and stamp < started_ms:
                            continue  # written before the feed started: Tansu's wrong end offset re-read it
                        settled.add(where)
                    event = self._decode(message)
                    if event is not None:
                        events.append(event)
                if events and self._loop is not None and not self._loop.is_closed():
                    self._loop.call_soon_threadsafe(self.deliver, events)
        finally:
            consumer.close()

    def _decode(self, message) -> LiveEvent | None:
        kind, decoder, change = self._topics[message.topic()]
        try:
            event = change(decoder.decode(message.value()))
        except (codec.DecodeError, KeyError, ValueError) as exc:
            log.error("unreadable record on %s at offset %d: %s", message.topic(), message.offset(), exc)
            return None
        STREAM_EVENTS.labels(kind).inc()
        return event
