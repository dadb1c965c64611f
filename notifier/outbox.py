"""What the notifier writes to Kafka — Delivery records and dead letters — each with an awaitable ack."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import KafkaError, Message, Producer

from notifier.outcome import MAX_RESPONSE_CHARS, Outcome, Verdict
from schemas import codec
from schemas.records import Delivery, DeliveryStatus, Notification
from schemas.topics import Topics

DELIVERY_HEADER = "vigil-delivery"  # on a dead letter: the encoded final Delivery record


class ProduceError(RuntimeError):
    """The broker did not take a record."""


def delivery_record(note: Notification, receiver: str, attempt: int, status: DeliveryStatus, outcome: Outcome,
                    latency_ms: float) -> Delivery:
    """One Delivery for `note` at integration (or receiver name) `receiver`."""
    return Delivery(dedup_key=note["dedup_key"], receiver=receiver, action=note["action"], sequence=note["sequence"],
                    fingerprint=note["fingerprint"], attempt=attempt, status=status,
                    http_status=outcome.http_status, response=outcome.response[:MAX_RESPONSE_CHARS],
                    latency_ms=latency_ms, attempted_at_ms=int(time.time() * 1000))


def status_of(outcome: Outcome, final: bool) -> DeliveryStatus:
    """DELIVERED, RETRYING (a retry follows) or FAILED."""
    if outcome.verdict is Verdict.DELIVERED:
        return "DELIVERED"
    return "RETRYING" if outcome.verdict is Verdict.RETRY and not final else "FAILED"


class Outbox:
    """Produces on the event loop's thread; `poll()` (called by the consume loop) resolves the acks."""

    def __init__(self, producer: Producer, topics: Topics) -> None:
        self._producer = producer
        self._topics = topics
        self._codec = codec.delivery()

    def _produce(self, topic: str, value: bytes, key: bytes, headers: list | None = None) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()

        def acked(err: KafkaError | None, _msg: Message) -> None:
            if future.done():
                return
            if err is None:
                future.set_result(None)
            else:
                future.set_exception(ProduceError(f"{topic}: {err}"))

        while True:
            try:
                self._producer.produce(topic, value, key=key, headers=headers, on_delivery=acked)
                return future
            except BufferError:  # the local queue is full: let the broker drain it first
                self._producer.poll(0.1)

    def delivery(self, record: Delivery) -> asyncio.Future:
        """Write a Delivery record; the future resolves when the broker has it."""
        return self._produce(self._topics.deliveries, self._codec.encode(record), record["dedup_key"].encode())

    def dead_letter(self, raw: bytes, note: Notification, final: Delivery) -> asyncio.Future:
        """The notification as it came (value) with its final Delivery (header) on the dead-letter topic."""
        return self._produce(self._topics.dead_notifications, raw, note["dedup_key"].encode(),
                             [(DELIVERY_HEADER, self._codec.encode(final))])

    def poll(self) -> None:
        """Serve the broker's acknowledgements."""
        self._producer.poll(0)

    def flush(self, timeout_s: float) -> int:
        """Wait for outstanding records; how many are still unacknowledged."""
        return self._producer.flush(timeout_s)
