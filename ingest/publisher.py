"""The one publisher every adapter hands samples to: MetricBatch per partition → Kafka, acked.

A call returns only after the broker acknowledged every batch (acks=all, idempotent producer),
so an adapter answers 2xx only for data that is in Kafka. When the producer's queue is full it
raises Backpressure (→ 429); when the broker does not ack in time, KafkaUnavailable (→ 503).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Producer

from kernel.retry import RetryableError
from ingest.evaluation_lag import AcceptedOffsets
from schemas import codec
from schemas.records import MetricBatch, Reject, Sample
from schemas.series_id import SERIES_ID_MASK
from schemas.topics import Topics

log = logging.getLogger(__name__)


class Backpressure(RetryableError):
    """The producer's local queue is full: the sender should retry after a short pause."""

    status = 429  # too many requests: the sender's rate, answered where its protocol retries a 429


class KafkaUnavailable(RetryableError):
    """The broker did not acknowledge in time or refused the batch."""

    status = 503  # the service, not the sender


class Publisher:
    """Groups samples by partition, encodes one MetricBatch each, produces and awaits the acks."""

    def __init__(self, producer: Producer, topics: Topics, partitions: int, timeout_s: float,
                 v1_topic: bool = False) -> None:
        self._producer = producer
        self.producer = producer  # for health checks (list_topics)
        self._topics = topics
        self._partitions = partitions
        self._timeout_s = timeout_s
        self._batch_codec = codec.series_batch()
        self._v1_codec = codec.metric_batch() if v1_topic else None
        self._reject_codec = codec.reject()
        # Where our metrics records landed and when: the streams worker's lag is measured against them.
        self.accepted_offsets = AcceptedOffsets()
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery-reports", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        # Delivery reports are served by poll(); a dedicated thread keeps the event loop free. It must
        # never die: without it no write is ever answered (a fatal producer error renews the producer).
        while self._running:
            try:
                self._producer.poll(0.05)
            except Exception:
                log.exception("serving Kafka delivery reports failed; going on")
                time.sleep(0.05)

    async def publish(self, samples: list[Sample], source: str, accepted_at_ms: int) -> int:
        """Publish samples (series_id already set); returns how many; raises on backpressure/outage."""
        by_partition: dict[int, list[Sample]] = {}
        partitions = self._partitions
        for sample in samples:
            p = (sample["series_id"] & SERIES_ID_MASK) % partitions  # partition_for, inlined (per sample)
            group = by_partition.get(p)
            if group is None:
                by_partition[p] = [sample]
            else:
                group.append(sample)
        batches: list[MetricBatch] = [{"partition": p, "source": source, "accepted_at_ms": accepted_at_ms,
                                       "samples": group} for p, group in by_partition.items()]
        sends = [self._produce(self._topics.metrics, [
            (b["partition"], str(b["partition"]).encode(), self._batch_codec.encode(b)) for b in batches],
            acked=self.accepted_offsets.acked)]
        if self._v1_codec is not None:  # the transition: consumers of vigil.metrics.v1 still get every sample
            sends.append(self._produce(self._topics.metrics_v1, [
                (b["partition"], str(b["partition"]).encode(), self._v1_codec.encode(b)) for b in batches]))
        await asyncio.gather(*sends)
        return len(samples)

    async def publish_rejects(self, rejects: list[Reject]) -> None:
        """Put refused input on the dead-letter topic, keyed by source."""
        messages = [(None, r["source"].encode(), self._reject_codec.encode(r)) for r in rejects]
        await self._produce(self._topics.rejects, messages)

    async def _produce(self, topic: str, messages: list[tuple[int | None, bytes, bytes]],
                       acked: Callable[[int, int, float], None] | None = None) -> None:
        if not messages:
            return
        loop = asyncio.get_running_loop()
        futures = []
        for partition, key, value in messages:
            future = loop.create_future()

            def on_delivery(err, msg, future=future) -> None:
                loop.call_soon_threadsafe(_settle, future, err, acked, msg.partition(), msg.offset())

            try:
                if partition is None:
                    self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                else:
                    self._producer.produce(topic, value=value, key=key, partition=partition,
                                           on_delivery=on_delivery)
            except BufferError:
                raise Backpressure("Kafka producer queue is full", retry_after=1) from None
            except KafkaException as exc:
                raise KafkaUnavailable(f"Kafka refused the batch: {exc}", retry_after=5) from None
            futures.append(future)
        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self._timeout_s)
        except TimeoutError:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge within {self._timeout_s:.0f}s", retry_after=5) from None
        except KafkaException as exc:
            raise KafkaUnavailable(f"Kafka did not take the batch: {exc.args[0]}", retry_after=5) from None
        finally:
            self.last_ack_s = time.monotonic() - started

    def close(self, timeout_s: float = 10.0) -> int:
        """Flush what is queued, stop the report thread; returns the number of messages still unsent."""
        remaining = self._producer.flush(timeout_s)
        self._running = False
        self._poller.join(timeout=1)
        return remaining


def _settle(future: asyncio.Future, err: KafkaError | None, acked: Callable[[int, int, float], None] | None,
            partition: int, offset: int) -> None:
    if err is None and acked is not None:  # the record is in Kafka even if its request already gave up waiting
        acked(partition, offset, time.monotonic())
    if future.done():
        return
    if err is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaException(err))
