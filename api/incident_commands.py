"""Operators' commands on incidents → the commands topic, on the incident's partition, acked by the broker.

The streams worker keeps an incident's state on partition `incident_partition(key)`; the commands
topic has the same partition count (kernel.kafka.ensure_topics), so a command produced to that
partition explicitly is read by the worker that holds the incident. The API answers only once
the broker acknowledged the command (acks=all): an accepted command is never dropped by us.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Producer

from api.publisher import PUBLISH_TIMEOUT_S, NotAcked, Publisher, Record
from schemas import codec
from schemas.records import Command, CommandAction
from schemas.series_id import incident_partition
from schemas.topics import Topics


class CommandNotAcked(NotAcked):
    """Kafka refused the command or did not acknowledge it in time; the caller should retry later."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return uuid.uuid4().hex


class IncidentCommands:
    """Produces Commands with the API's shared producer (built with publisher.producer_overrides)."""

    def __init__(self, producer: Producer, topics: Topics, partitions: int, timeout_s: float = PUBLISH_TIMEOUT_S,
                 now_ms: Callable[[], int] = _now_ms, new_id: Callable[[], str] = _new_id) -> None:
        self._publisher = Publisher(producer, topics.commands, "command", CommandNotAcked, timeout_s)
        self._partitions = partitions
        self._now_ms = now_ms
        self._new_id = new_id
        self._codec = codec.command()

    async def issue(self, incident_key: str, action: CommandAction, actor: str, comment: str = "") -> Command:
        """Produce one Command for the incident and wait for the broker's ack; CommandNotAcked if none came."""
        command: Command = {"command_id": self._new_id(), "incident_key": incident_key, "action": action,
                            "actor": actor, "comment": comment, "issued_at_ms": self._now_ms()}
        await self._publisher.publish([Record(incident_key.encode(), self._codec.encode(command),
                                              incident_partition(incident_key, self._partitions))])
        return command
