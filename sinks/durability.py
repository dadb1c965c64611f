"""Commit a batch's offsets once the store keeps it for good, which may be later than its acknowledgement.

VictoriaMetrics answers a write before the samples are on disk: a SIGKILL (the OOM killer, a crash,
a power cut) loses what it took in its last seconds. Measured with Debian's 1.79: samples written 9.5 s
before the kill were lost, 11 s before were kept; 1.85 and later flush every `-inmemoryDataFlushInterval`
(5 s by default). A sink that committed on the acknowledgement would lose those samples for good, as
no one would read them again.

So a written batch stays unconfirmed for `durable_after_s` before its offsets are committed, and the
sink asks the store when it started (VictoriaMetrics' `process_start_time_seconds`). A store that
started after an unconfirmed batch was written may have lost it: the sink then re-reads from the
oldest unconfirmed batch and writes it all again. Writes are idempotent (VictoriaMetrics keeps one
sample per series and millisecond), so the cost of a re-read is the work, never a second copy.
A store that does not tell its start time is trusted after `durable_after_s`; one that acknowledges
durably (Postgres) has `durable_after_s` 0 and is committed at once.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TopicPartition

from sinks import metrics

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0  # how often the store's start time is asked while batches wait


class StoreUnreachable(Exception):
    """The store did not say when it started: nothing is confirmed until it does."""


@dataclass(frozen=True, slots=True)
class WrittenBatch:
    """A batch the store acknowledged: when, and its offsets (each partition's first, and the next to commit)."""

    at: float  # wall clock, as the store's start time is
    first: dict[tuple[str, int], int]
    next: dict[tuple[str, int], int]


@dataclass(frozen=True, slots=True)
class Settled:
    """What the sink loop does now: commit these offsets, or seek back to these positions and read again."""

    commit: list[TopicPartition]
    rewind: list[TopicPartition]


NOTHING = Settled([], [])


class Unconfirmed:
    """The batches written but not yet committed, oldest first; one per sink loop, used from its thread."""

    def __init__(self, sink: str, durable_after_s: float, started_at: Callable[[], float | None],
                 clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.durable_after_s = durable_after_s
        self._started_at = started_at  # raises StoreUnreachable
        self._clock = clock
        self._batches: deque[WrittenBatch] = deque()
        self._checked = 0.0

    def add(self, batch: WrittenBatch) -> None:
        self._batches.append(batch)

    def settle(self) -> Settled:
        """Offsets to commit (batches now durable), or positions to rewind to (the store restarted)."""
        if not self._batches:
            return NOTHING
        if self.durable_after_s <= 0:
            return Settled(self._merge(len(self._batches)), [])
        now = self._clock()
        if now - self._checked < CHECK_EVERY_S:
            return NOTHING
        self._checked = now
        try:
            started = self._started_at()
        except StoreUnreachable:
            return NOTHING  # down, or restarting: wait for its answer
        # Start times are whole seconds: a start in the same second as a write counts as after it.
        if started is not None and started >= self._batches[0].at - 1:
            return Settled([], self._rewind(started))
        durable = 0
        while durable < len(self._batches) and self._batches[durable].at <= now - self.durable_after_s:
            durable += 1
        return Settled(self._merge(durable), []) if durable else NOTHING

    def _merge(self, count: int) -> list[TopicPartition]:
        """The offsets to commit for the `count` oldest batches (each partition's latest), removed from here."""
        offsets: dict[tuple[str, int], int] = {}
        for _ in range(count):
            offsets.update(self._batches.popleft().next)
        return [TopicPartition(t, p, o) for (t, p), o in offsets.items()]

    def _rewind(self, started: float) -> list[TopicPartition]:
        """Each partition's first unconfirmed offset; every unconfirmed batch is forgotten (it will be read again)."""
        first: dict[tuple[str, int], int] = {}
        for batch in self._batches:
            for key, offset in batch.first.items():
                first.setdefault(key, offset)
        metrics.REWINDS.labels(self.sink).inc()
        log.warning("%s: the store started at %s, after %d batches it acknowledged were written (the oldest %.1f s "
                    "ago): it may have lost them; reading them again from %s", self.sink,
                    time.strftime("%H:%M:%S", time.localtime(started)), len(self._batches),
                    self._clock() - self._batches[0].at,
                    ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(first.items())))
        self._batches.clear()
        return [TopicPartition(t, p, o) for (t, p), o in first.items()]
