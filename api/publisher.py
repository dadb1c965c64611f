"""Records to Kafka with the API's shared producer, answered only once the broker acknowledged them.

A publish produces its records, then waits in a thread (the event loop keeps serving) for each
delivery report, polling the producer until every one has settled or the deadline passed. The
producer is built with `producer_overrides`, so librdkafka itself gives a record up by then: a
record we stopped waiting for is never delivered behind the caller's back. A full queue, a refusal
or a missing ack raises the publisher's `error` (a NotAcked), retryable with Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import NamedTuple

from confluent_kafka import KafkaException, Producer

from kernel.retry import RetryableError

PUBLISH_TIMEOUT_S = 10.0
POLL_S = 0.05


def producer_overrides(timeout_s: float = PUBLISH_TIMEOUT_S) -> dict:
    """Producer settings for publishers: librdkafka gives up on a record when the publisher stops waiting."""
    return {"message.timeout.ms": int(timeout_s * 1000), "linger.ms": 0}


class NotAcked(RetryableError):
    """Kafka refused a record or did not acknowledge it in time; the caller should retry later."""


class Record(NamedTuple):
    """One record to produce; `partition` None leaves it to the producer's partitioner."""

    key: bytes
    value: bytes
    partition: int | None = None


class Publisher:
    """Produces records to one topic and returns once the broker acknowledged every one."""

    def __init__(self, producer: Producer, topic: str, what: str, error: type[NotAcked] = NotAcked,
                 timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self._producer = producer
        self._topic = topic
        self._what = what  # names the records in error messages: "Kafka refused the rule: …"
        self._error = error
        self._timeout_s = timeout_s

    async def publish(self, records: list[Record]) -> None:
        """Produce the records and await their delivery reports; raises `error` if any was not acknowledged."""
        if not records:
            return
        reports: list[_Report] = []
        try:
            for record in records:
                report = _Report()
                where = {} if record.partition is None else {"partition": record.partition}
                self._producer.produce(self._topic, key=record.key, value=record.value, on_delivery=report.settle,
                                       **where)
                reports.append(report)
        except BufferError:
            raise self._error("Kafka producer queue is full", retry_after=1) from None
        except KafkaException as exc:
            raise self._error(f"Kafka refused the {self._what}: {exc}", retry_after=5) from None
        failed = await asyncio.to_thread(self._await, reports)
        if failed is not None:
            raise self._error(f"Kafka did not take the {self._what}: {failed}", retry_after=5)

    def _await(self, reports: list[_Report]) -> str | None:
        """Serve delivery reports until all settled or the deadline passed; the first failure, or None."""
        deadline = time.monotonic() + self._timeout_s + 1  # message.timeout.ms settles every report by then
        while not all(report.done.is_set() for report in reports) and time.monotonic() <= deadline:
            self._producer.poll(POLL_S)
        for report in reports:
            if not report.done.is_set():
                return f"no acknowledgement within {self._timeout_s:.0f}s"
            if report.error is not None:
                return report.error
        return None


class _Report:
    """One delivery report, settled from whichever thread polled the producer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: str | None = None

    def settle(self, err, _msg) -> None:
        if err is not None:
            self.error = err.str()
        self.done.set()
