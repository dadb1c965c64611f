"""Notifications in flight: sends of one key run in order, and offsets are committed below the oldest unfinished.

Many notifications are handled at once, so one slow or rate-limited receiver does not hold up the
others. Two rules keep that safe: sends with the same key (integration, dedup key) run one after
another, in arrival order, so an incident's trigger always goes before its resolve; and a
partition's offset is committed only up to the first notification not finished yet, so a restart
redelivers everything unfinished (the sent-ledger skips what was already sent).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass, field
from typing import TypeVar

from confluent_kafka import TopicPartition

T = TypeVar("T")


class Lanes:
    """Runs awaitables with the same key one at a time, in the order they were handed in."""

    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future] = {}

    async def run(self, key: Hashable, work: Awaitable[T]) -> T:
        """Await `work` once everything handed in earlier for `key` has finished."""
        loop = asyncio.get_running_loop()
        previous = self._tails.get(key)
        mine = loop.create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                await asyncio.shield(previous)
            return await work
        finally:
            mine.set_result(None)
            if self._tails.get(key) is mine:
                del self._tails[key]

    def __len__(self) -> int:
        return len(self._tails)


@dataclass(slots=True)
class _Partition:
    generation: int
    pending: deque = field(default_factory=deque)  # [offset, finished] in arrival (= offset) order
    index: dict = field(default_factory=dict)  # offset → its pending entry


@dataclass(frozen=True, slots=True)
class Token:
    """One notification's place in its partition (stale once the partition was revoked)."""

    topic: str
    partition: int
    generation: int
    offset: int


class Offsets:
    """Tracks each assigned partition's unfinished notifications; says what may be committed."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._generation = 0

    def add(self, topic: str, partition: int, offset: int) -> Token:
        """A notification was read; returns its token for `finish`."""
        part = self._parts.get((topic, partition))
        if part is None:
            self._generation += 1
            part = self._parts[(topic, partition)] = _Partition(self._generation)
        entry = [offset, False]
        part.pending.append(entry)
        part.index[offset] = entry
        return Token(topic, partition, part.generation, offset)

    def finish(self, token: Token) -> None:
        """The notification is settled (its records acknowledged); a token of a revoked partition is ignored."""
        part = self._parts.get((token.topic, token.partition))
        if part is not None and part.generation == token.generation and token.offset in part.index:
            part.index[token.offset][1] = True

    def committable(self) -> list[TopicPartition]:
        """Per partition, the offset after its finished prefix (forgetting that prefix); empty when none moved."""
        out = []
        for (topic, partition), part in self._parts.items():
            last = None
            while part.pending and part.pending[0][1]:
                last = part.pending.popleft()[0]
                del part.index[last]
            if last is not None:
                out.append(TopicPartition(topic, partition, last + 1))
        return out

    def revoke(self, partitions: list[TopicPartition]) -> None:
        """Forget partitions this consumer no longer owns (their late finishes are ignored)."""
        for tp in partitions:
            self._parts.pop((tp.topic, tp.partition), None)

    def forget_all(self) -> None:
        """Forget every partition (the broker restarted empty: these offsets mean nothing there now)."""
        self._parts.clear()

    def unfinished(self) -> int:
        return sum(len(p.pending) for p in self._parts.values())
