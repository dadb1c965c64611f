"""Operators' commands on incidents → the commands topic, on the incident's partition, acked by the broker.

The streams worker keeps an incident's state on partition `incident_partition(key)`; the commands
topic has the same partition count (infra.kafka.ensure_topics), so a command produced to that
partition explicitly is read by the worker that holds the incident. The API answers only once
the broker acknowledged the command (acks=all): an accepted command is never dropped by us.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import KafkaException, Producer

from api.rule_store import PUBLISH_TIMEOUT_S
from infra.retry import RetryableError
from schemas import codec
from schemas.records import Command, CommandAction
from schemas.series_id import incident_partition
from schemas.topics import Topics

POLL_S = 0.05


class CommandNotAcked(RetryableError):
    """Kafka refused the command or did not acknowledge it in time; the caller should retry later."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return uuid.uuid4().hex


class IncidentCommands:
    """Produces Commands with the API's shared producer (built with rule_store.producer_overrides)."""

    def __init__(self, producer: Producer, topics: Topics, partitions: int, timeout_s: float = PUBLISH_TIMEOUT_S,
                 now_ms: Callable[[], int] = _now_ms, new_id: Callable[[], str] = _new_id) -> None:
        self._producer = producer
        self._topic = topics.commands
        self._partitions = partitions
        self._timeout_s = timeout_s  # the producer's message.timeout.ms settles every report by then
        self._now_ms = now_ms
        self._new_id = new_id
        self._codec = codec.command()

    async def issue(self, incident_key: str, action: CommandAction, actor: str, comment: str = "") -> Command:
        """Produce one Command for the incident and wait for the broker's ack; CommandNotAcked if none came."""
        command: Command = {"command_id": self._new_id(), "incident_key": incident_key, "action": action,
                            "actor": actor, "comment": comment, "issued_at_ms": self._now_ms()}
        report = _Report()
        try:
            self._producer.produce(self._topic, key=incident_key.encode(), value=self._codec.encode(command),
                                   partition=incident_partition(incident_key, self._partitions),
                                   on_delivery=report.settle)
        except BufferError:
            raise CommandNotAcked("Kafka producer queue is full", retry_after=1) from None
        except KafkaException as exc:
            raise CommandNotAcked(f"Kafka refused the command: {exc}", retry_after=5) from None
        # Delivery reports are served by poll(); waiting in a thread keeps the event loop serving.
        await asyncio.to_thread(self._await, report)
        if report.error is not None:
            raise CommandNotAcked(f"Kafka did not take the command: {report.error}", retry_after=5)
        return command

    def _await(self, report: _Report) -> None:
        deadline = time.monotonic() + self._timeout_s + 1
        while not report.done.is_set():
            if time.monotonic() > deadline:
                report.error = f"no acknowledgement within {self._timeout_s:.0f}s"
                return
            self._producer.poll(POLL_S)


class _Report:
    """One delivery report, settled from whichever thread polled the producer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: str | None = None

    def settle(self, err, _msg) -> None:
        if err is not None:
            self.error = err.str()
        self.done.set()
