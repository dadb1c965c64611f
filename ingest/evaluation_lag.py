"""How many seconds of this process's accepted data the streams worker has not yet evaluated.

Ingest knows, from the broker's delivery reports, the offset of every metrics record it wrote and
when the broker acknowledged it; the streams worker's consumer group commits the offset it has
evaluated up to. The oldest of our records at or past the committed offset is the oldest sample
the rule evaluator has not seen, and its age is how late an alert on it would be. Lag is computed
from what we produced, never from the broker's end offsets (Tansu's high watermark is wrong:
docs/stack.md).

Each ingest process judges from its own records only. Offsets of one partition are evaluated in
order, and the processes' records interleave on every partition, so any process that is writing
sees (within its own write interval) the same age as one that knew every record; one that is not
writing has nothing to refuse.

Shedding exists to let a worker that is evaluating catch up: while ingest refuses, nothing new
arrives, so a worker at work makes the age of our oldest waiting record fall. A partition where that
age did not fall over `stall_s` is not being caught up on (a worker that hangs, one that creeps a
record at a time, one that evaluated our last records and does not commit them until more come):
refusing writes for it would only stop ingest, and with ingest refusing, no record would come to
move it on. Such a partition is left out of the lag (logged) until the worker has evaluated our
records there, or the age falls over a later `stall_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from kernel.retry import ErrorLog

log = logging.getLogger(__name__)

MARK_RESOLUTION_S = 0.05  # acks closer together than this share one mark: the age is exact to 50 ms
MAX_MARKS = 20_000  # per partition (≥ 1,000 s of marks): memory stays bounded when nobody evaluates
LIVE_STATES = (ConsumerGroupState.STABLE, ConsumerGroupState.PREPARING_REBALANCING,
               ConsumerGroupState.COMPLETING_REBALANCING)


class AcceptedOffsets:
    """Per partition, the offsets the broker acknowledged for this process's records, and when (coarsened)."""

    def __init__(self, resolution_s: float = MARK_RESOLUTION_S, max_marks: int = MAX_MARKS) -> None:
        self._resolution_s = resolution_s
        self._max_marks = max_marks
        # Each mark: [highest offset acked in its window, when the window's first ack came]. Reports of
        # one partition come in offset order (idempotent producer), so marks ascend in both.
        self._marks: dict[int, deque[list]] = {}

    def acked(self, partition: int, offset: int, now: float) -> None:
        """The broker acknowledged our record at `offset` of `partition` at `now` (monotonic seconds)."""
        marks = self._marks.get(partition)
        if marks is None:
            marks = self._marks[partition] = deque()
        if marks and now - marks[-1][1] < self._resolution_s:
            if offset > marks[-1][0]:
                marks[-1][0] = offset
            return
        marks.append([offset, now])
        if len(marks) > self._max_marks:  # the age then reads at most max_marks × resolution: still over any bound
            marks.popleft()

    def unevaluated_since(self, committed: dict[int, int], skip: frozenset[int] = frozenset()) -> float | None:
        """When the oldest of our records not yet evaluated was acknowledged (None: every one was).

        `committed` maps a partition to the next offset the group will evaluate; a partition the group
        has no offset for has evaluated none of ours. Marks wholly below their offset are dropped.
        Partitions in `skip` (stalled) are left out.
        """
        oldest = None
        for partition in list(self._marks):  # a copy: the delivery-report thread may add a partition meanwhile
            since = self.oldest(partition, committed.get(partition, 0))
            if since is not None and partition not in skip and (oldest is None or since < oldest):
                oldest = since
        return oldest

    def oldest(self, partition: int, next_offset: int) -> float | None:
        """When our oldest record at or past `next_offset` of `partition` was acknowledged (marks below dropped)."""
        marks = self._marks.get(partition)
        while marks and marks[0][0] < next_offset:
            marks.popleft()
        return marks[0][1] if marks else None

    def partitions(self) -> set[int]:
        return set(self._marks)

    def forget(self) -> None:
        """The metrics topic was re-created (the broker restarted empty): our offsets on it mean nothing now."""
        self._marks = {}

    def __len__(self) -> int:
        return sum(len(marks) for marks in self._marks.values())


@dataclass(frozen=True, slots=True)
class GroupProgress:
    """What the streams worker's consumer group says: whether it runs, and how far it evaluated."""

    live: bool  # the group has members (a dead worker's old offsets must not stop ingest)
    committed: dict[int, int]  # partition of the metrics topic → next offset it will evaluate


def evaluation_lag_s(progress: GroupProgress | None, offsets: AcceptedOffsets, now: float,
                     stalled: frozenset[int] = frozenset()) -> float | None:
    """Seconds of our accepted data not yet evaluated; None when nobody evaluates (the signal is off)."""
    if progress is None or not progress.live or not progress.committed:
        return None
    since = offsets.unevaluated_since(progress.committed, skip=stalled)
    return 0.0 if since is None else max(0.0, now - since)


class Stalls:
    """Partitions where the age of our oldest waiting record did not fall over `stall_s`: left out of the lag."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        # partition → (when the current window began, when our oldest record then waiting was acknowledged)
        self._windows: dict[int, tuple[float, float]] = {}
        self.stalled: frozenset[int] = frozenset()

    def update(self, progress: GroupProgress | None, offsets: AcceptedOffsets, now: float) -> frozenset[int]:
        """The stalled partitions now, after reading the group's `progress` at `now` (monotonic seconds)."""
        stalled = set()
        committed = progress.committed if progress else {}
        for partition in committed.keys() | offsets.partitions():
            waiting_since = offsets.oldest(partition, committed.get(partition, 0))  # none committed: none evaluated
            window = self._windows.get(partition)
            if waiting_since is None:  # every record of ours there is evaluated
                self._windows.pop(partition, None)
                continue
            if window is None:
                self._windows[partition] = (now, waiting_since)
                continue
            began, waiting_then = window
            if now - began < self.stall_s:
                if partition in self.stalled:
                    stalled.add(partition)
                continue
            if now - waiting_since >= began - waiting_then:  # the age did not fall: not being caught up on
                stalled.add(partition)
            self._windows[partition] = (now, waiting_since)
        if stalled != self.stalled:
            if stalled - self.stalled:
                log.warning("the streams worker did not catch up on metrics partition(s) %s in %.0f s while records "
                            "of ours wait there: not shedding load for them until it does",
                            sorted(stalled - self.stalled), self.stall_s)
            if self.stalled - stalled:
                log.info("the streams worker catches up on metrics partition(s) %s again", sorted(self.stalled - stalled))
            self.stalled = frozenset(stalled)
        return self.stalled


class GroupWatcher:
    """Reads the streams group's state and committed offsets every `interval_s`, off the request path."""

    def __init__(self, admin: AdminClient, group: str, topic: str, offsets: AcceptedOffsets,
                 on_lag: Callable[[float | None], None], interval_s: float, stall_s: float = 10.0,
                 timeout_s: float = 5.0) -> None:
        self._admin = admin
        self._group = group
        self._topic = topic
        self._offsets = offsets
        self._on_lag = on_lag
        self._interval_s = interval_s
        self._stalls = Stalls(stall_s)
        self._timeout_s = timeout_s
        self._errors = ErrorLog(log)

    def read(self) -> GroupProgress | None:
        """The group's progress now (blocking: call it on a thread); None when it has never committed."""
        described = self._admin.describe_consumer_groups([self._group], request_timeout=self._timeout_s)
        state = described[self._group].result(timeout=self._timeout_s)
        listed = self._admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(self._group)],
                                                         request_timeout=self._timeout_s)
        found = listed[self._group].result(timeout=self._timeout_s)
        committed = {tp.partition: tp.offset for tp in found.topic_partitions or []
                     if tp.topic == self._topic and tp.offset >= 0 and tp.error is None}
        if not committed:
            return None
        # The state, not the member list: Tansu describes a stable group with no members listed.
        return GroupProgress(live=state.state in LIVE_STATES, committed=committed)

    async def run(self) -> None:
        """Until cancelled: read the group, hand the lag to `on_lag`; an unreadable group turns the signal off."""
        while True:
            try:
                progress = await asyncio.to_thread(self.read)
            except Exception as exc:  # any failure (broker unreachable, …): the signal goes off, never sticks on
                progress = None
                self._errors.failed(exc, "cannot read the streams group %s (evaluation lag unknown): %s",
                                    self._group, exc)
            else:
                self._errors.recovered("reading the streams group %s again", self._group)
            now = time.monotonic()
            stalled = self._stalls.update(progress, self._offsets, now)
            self._on_lag(evaluation_lag_s(progress, self._offsets, now, stalled))
            await asyncio.sleep(self._interval_s)
