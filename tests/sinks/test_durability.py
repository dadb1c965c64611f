"""When a sink commits: once the store keeps a write for good; and when it reads again: after the store restarted."""

from __future__ import annotations

import pytest

from sinks.durability import CHECK_EVERY_S, StoreUnreachable, Unconfirmed, WrittenBatch

T = 1_800_000_000.0  # a wall-clock second


class Store:
    """The store's answers to "when did you start?" (None: it does not tell; an exception: it is down)."""

    def __init__(self, started: float | None) -> None:
        self.started = started
        self.down = False

    def started_at(self) -> float | None:
        if self.down:
            raise StoreUnreachable("connection refused")
        return self.started


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def batch(at: float, first: int, end: int, partition: int = 0) -> WrittenBatch:
    return WrittenBatch(at, {("metrics", partition): first}, {("metrics", partition): end})


def offsets(tps) -> dict[tuple[str, int], int]:
    return {(tp.topic, tp.partition): tp.offset for tp in tps}


@pytest.fixture
def clock() -> Clock:
    return Clock(T)


def test_a_batch_is_committed_once_it_is_durable_not_when_it_is_acknowledged(clock):
    store = Store(started=T - 3600)
    unconfirmed = Unconfirmed("tsdb", 15, store.started_at, clock)
    unconfirmed.add(batch(T, 0, 10))
    unconfirmed.add(batch(T + 5, 10, 20))
    assert unconfirmed.settle().commit == []
    clock.now = T + 15
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 10}  # the first is durable, the second not yet
    clock.now = T + 20
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 20}
    clock.now = T + 30
    assert unconfirmed.settle().commit == []  # nothing left


def test_the_store_is_asked_at_most_once_a_second(clock):
    store = Store(started=T - 3600)
    calls = []
    unconfirmed = Unconfirmed("tsdb", 15, lambda: calls.append(1) or store.started_at(), clock)
    unconfirmed.add(batch(T, 0, 10))
    for _ in range(5):
        unconfirmed.settle()
    clock.now += CHECK_EVERY_S
    unconfirmed.settle()
    assert len(calls) == 2


def test_a_store_that_restarted_after_a_write_sends_the_sink_back_to_the_oldest_unconfirmed_batch(clock):
    store = Store(started=T - 3600)
    unconfirmed = Unconfirmed("tsdb", 15, store.started_at, clock)
    unconfirmed.add(batch(T, 100, 110, partition=0))
    unconfirmed.add(batch(T + 1, 50, 60, partition=1))
    unconfirmed.add(batch(T + 2, 110, 120, partition=0))
    clock.now, store.started = T + 8, T + 6  # killed and started again after all three were acknowledged
    settled = unconfirmed.settle()
    assert settled.commit == []
    assert offsets(settled.rewind) == {("metrics", 0): 100, ("metrics", 1): 50}
    clock.now = T + 60
    assert unconfirmed.settle().commit == []  # forgotten: they come again, as new batches


def test_a_write_after_the_restart_is_trusted(clock):
    store = Store(started=T)
    unconfirmed = Unconfirmed("tsdb", 15, store.started_at, clock)
    unconfirmed.add(batch(T + 2, 0, 10))  # the store was already up (start times are whole seconds)
    clock.now = T + 20
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 10}


def test_nothing_is_confirmed_while_the_store_does_not_answer(clock):
    store = Store(started=T - 3600)
    unconfirmed = Unconfirmed("tsdb", 15, store.started_at, clock)
    unconfirmed.add(batch(T, 0, 10))
    store.down, clock.now = True, T + 30
    assert unconfirmed.settle().commit == []  # it may be down because it crashed
    store.down, clock.now = False, T + 31
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 10}  # it did not restart: all was kept


def test_a_store_that_does_not_tell_its_start_is_trusted_after_the_delay(clock):
    unconfirmed = Unconfirmed("tsdb", 15, Store(started=None).started_at, clock)
    unconfirmed.add(batch(T, 0, 10))
    clock.now = T + 15
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 10}


def test_a_store_that_acknowledges_durably_is_committed_at_once(clock):
    unconfirmed = Unconfirmed("postgres", 0, Store(started=None).started_at, clock)
    unconfirmed.add(batch(T, 0, 10))
    unconfirmed.add(batch(T, 10, 20, partition=1))
    assert offsets(unconfirmed.settle().commit) == {("metrics", 0): 10, ("metrics", 1): 20}
