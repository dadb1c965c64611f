"""The loop every sink shares: consume a batch, decode, write, retry, commit once the write is durable.

Shaped after quix-streams' BatchingSink: a sink implements one `write(records)`; this module
owns batching, retries and offset commits, so offsets are always committed after the write
they stand for (https://quix.io/docs/quix-streams/connectors/sinks/custom-sinks.html), and
after the store keeps it for good (sinks/durability.py).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from kernel.retry import Backoff, PermanentError, RetryableError, retry_forever
from schemas.codec import DecodeError
from sinks import metrics
from sinks.durability import Unconfirmed, WrittenBatch

log = logging.getLogger(__name__)


_DONE: Future[float | None] = Future()
_DONE.set_result(None)  # the "write" of a batch whose records were all undecodable (_finish stamps it done now)

Decoder = Callable[[bytes], Any]
"""A topic's record decoder (a codec's `decode`, or `SeriesBatchCodec.columns`); raises DecodeError."""


class Consumed(NamedTuple):
    """One decoded Kafka record and where it came from (for logs naming the record at fault)."""

    topic: str
    partition: int
    offset: int
    value: Any


class WriteFailed(RetryableError):
    """A write that may succeed later; `reason` is a bounded metric label."""

    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.reason = reason


class WriteRejected(PermanentError):
    """A write the store refuses for good; `reason` is a bounded metric label."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Sink(Protocol):
    """What a sink implements: store a batch idempotently, all of it or raise."""

    name: str
    durable_after_s: float  # how long after its acknowledgement a write is on disk (0: at once)

    def started_at(self) -> float | None:
        """When the store last started (unix seconds), None if it does not tell; raises StoreUnreachable."""

    def write(self, records: list[Consumed]) -> int:
        """Store every record (raise WriteFailed/WriteRejected); returns the rows or points written."""

    def close(self) -> None:
        """Release the sink's client."""


def write_isolating(write: Callable[[list[Consumed]], None], records: list[Consumed],
                    drop: Callable[[Consumed, PermanentError], None]) -> None:
    """Write `records`; on a permanent error, split the batch to find and `drop` only the records at fault.

    Writes are idempotent, so re-writing the good half of a refused batch is harmless.
    """
    try:
        write(records)
    except PermanentError as exc:
        if len(records) == 1:
            drop(records[0], exc)
            return
        middle = len(records) // 2
        write_isolating(write, records[:middle], drop)
        write_isolating(write, records[middle:], drop)


class SinkLoop:
    """Consumes `decoders`' topics with one consumer and feeds a sink until `stop` is set."""

    def __init__(self, sink: Sink, consumer: Consumer, decoders: dict[str, Decoder], stop: threading.Event,
                 max_messages: int, max_wait_s: float, backoff: Backoff = Backoff()) -> None:
        self.sink = sink
        self.consumer = consumer
        self.decoders = decoders
        self.stop = stop
        self.max_messages = max_messages
        self.max_wait_s = max_wait_s
        self.backoff = backoff
        self.unconfirmed = Unconfirmed(sink.name, sink.durable_after_s, sink.started_at)
        self._kafka_errors: set[str] = set()

    def run(self) -> None:
        """Loop until stopped: the batch in hand is finished (committed if durable), then the consumer leaves.

        One write is in flight on a thread of its own while the next batch is fetched and decoded
        (the store's answer is mostly waiting); the next write starts only once it returned, so
        batches are written in order. A written batch is committed once the store keeps it for good;
        when the store restarted meanwhile, the consumer seeks back and the batches are written again.
        """
        self.consumer.subscribe(list(self.decoders))
        writer = ThreadPoolExecutor(1, thread_name_prefix=f"sink-{self.sink.name}-write")
        in_flight: tuple[Future[float | None], dict, dict] | None = None
        try:
            while not self.stop.is_set():
                messages = self.consumer.consume(num_messages=self.max_messages, timeout=self.max_wait_s)
                if in_flight is not None and (messages or in_flight[0].done()):
                    if not self._finish(*in_flight):
                        break
                    in_flight = None
                if in_flight is None and self._settle():
                    continue  # rewound: what was just consumed comes again
                if not messages:
                    continue
                records, first, offsets = self._decode(messages)
                in_flight = (writer.submit(self._write, records) if records else _DONE, first, offsets)
            if in_flight is None or self._finish(*in_flight):
                self._settle()  # what is durable by now; the rest is read again at the next start
        finally:
            writer.shutdown(wait=True)
            self.consumer.close()
            self.sink.close()

    def _finish(self, written: Future[float | None], first: dict, offsets: dict) -> bool:
        """Wait for a write; hand it to the unconfirmed batches if it succeeded. False: stopping while it still fails."""
        at = time.time() if written is _DONE else written.result()
        if at is None:
            log.warning("%s: stopping while the write still fails; its offsets stay uncommitted", self.sink.name)
            return False
        self.unconfirmed.add(WrittenBatch(at, first, offsets))
        return True

    def _settle(self) -> bool:
        """Commit what is durable now; True when the store restarted and the consumer was sent back instead."""
        settled = self.unconfirmed.settle()
        self._commit(settled.commit)
        for position in settled.rewind:
            try:
                self.consumer.seek(position)
            except KafkaException as exc:  # no longer ours (a rebalance): its new owner reads from the commit
                log.warning("%s: could not seek back to %s: %s", self.sink.name, position, exc)
        return bool(settled.rewind)

    def _decode(self, messages: list[Message]) -> tuple[list[Consumed], dict, dict]:
        """Decoded records, each partition's first offset, and the offsets to commit once they are written
        (undecodable ones included)."""
        records: list[Consumed] = []
        first_offsets: dict[tuple[str, int], int] = {}
        next_offsets: dict[tuple[str, int], int] = {}
        bad: list[str] = []
        for msg in messages:
            if msg.error():
                self._kafka_error(msg)
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            first_offsets.setdefault((topic, partition), offset)
            next_offsets[(topic, partition)] = offset + 1
            try:
                records.append(Consumed(topic, partition, offset, self.decoders[topic](msg.value() or b"")))
            except DecodeError as exc:
                bad.append(f"{topic}[{partition}]@{offset}: {exc}")
        if bad:
            # A producer bug or a hostile client: skip the record, never stop the sink for it.
            metrics.UNDECODABLE.labels(self.sink.name).inc(len(bad))
            log.error("%s: skipped %d undecodable records; first: %s", self.sink.name, len(bad), bad[0])
        return records, first_offsets, next_offsets

    def _kafka_error(self, msg: Message) -> None:
        # Log each kind of consumer error once; librdkafka repeats them while the cause lasts.
        text = str(msg.error())
        if text not in self._kafka_errors:
            self._kafka_errors.add(text)
            log.warning("%s: consumer error: %s", self.sink.name, text)

    def _write(self, records: list[Consumed]) -> float | None:
        """Write until it works; when it was acknowledged (wall clock), None only when stopping while it still fails."""
        try:
            write_isolating(self._write_retrying, records, self._drop)
        except RetryableError:
            return None  # retry_forever re-raises it only once `stop` is set
        return time.time()

    def _write_retrying(self, records: list[Consumed]) -> None:
        name = self.sink.name
        try:
            retry_forever(lambda: self._write_once(records), f"{name} write of {len(records)} records",
                          backoff=self.backoff, should_stop=self.stop.is_set, sleep=self.stop.wait)
        finally:
            metrics.RETRYING.labels(name).set(0)

    def _write_once(self, records: list[Consumed]) -> None:
        name = self.sink.name
        started = time.perf_counter()
        try:
            rows = self.sink.write(records)
        except (RetryableError, PermanentError) as exc:
            metrics.WRITE_FAILURES.labels(name, getattr(exc, "reason", "other")).inc()
            if isinstance(exc, RetryableError):
                metrics.RETRYING.labels(name).set(1)
            raise
        metrics.WRITE_SECONDS.labels(name).observe(time.perf_counter() - started)
        metrics.BATCHES.labels(name).inc()
        metrics.RECORDS_WRITTEN.labels(name).inc(len(records))
        metrics.ROWS_WRITTEN.labels(name).inc(rows)

    def _drop(self, record: Consumed, exc: PermanentError) -> None:
        metrics.RECORDS_DROPPED.labels(self.sink.name).inc()
        log.error("%s: DROPPED record %s[%d]@%d, the store refused it for good: %s",
                  self.sink.name, record.topic, record.partition, record.offset, exc)

    def _commit(self, offsets: list[TopicPartition]) -> None:
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # E.g. a rebalance moved the partitions: the new owner re-reads them, and writes are idempotent.
            metrics.COMMIT_FAILURES.labels(self.sink.name).inc()
            log.warning("%s: offset commit failed, these records will be redelivered: %s", self.sink.name, exc)
