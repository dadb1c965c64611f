"""Admission control and the evaluation-lag arithmetic, without servers."""

from __future__ import annotations

from ingest import metrics
from ingest.admission import Admission, Reason
from ingest.evaluation_lag import AcceptedOffsets, GroupProgress, Stalls, evaluation_lag_s


def shed_count(protocol: str, reason: str) -> float:
    return metrics.SHED.labels(protocol, reason)._value.get()


def test_writes_beyond_the_in_flight_bound_are_refused_and_counted_and_the_slot_comes_back():
    admission = Admission(max_in_flight=2, max_evaluation_lag_s=0)
    before = shed_count("test", "in_flight")
    with admission.slot("test") as first, admission.slot("test") as second:
        assert first is None and second is None and admission.in_flight == 2
        with admission.slot("test") as third:
            assert third.reason is Reason.IN_FLIGHT and third.retry_after_s == 1
            assert "already handling 2 writes (limit 2, VIGIL_INGEST_MAX_IN_FLIGHT)" in third.message
            assert admission.in_flight == 2  # a refused write holds no slot
        assert admission.describe()["shedding"] and admission.describe()["reasons"] == ["in_flight"]
    assert admission.in_flight == 0
    assert shed_count("test", "in_flight") == before + 1
    with admission.slot("test") as again:
        assert again is None


def test_a_slot_is_given_back_when_the_handler_raises():
    admission = Admission(max_in_flight=1, max_evaluation_lag_s=0)
    try:
        with admission.slot("test"):
            raise ValueError("handler bug")
    except ValueError:
        pass
    assert admission.in_flight == 0


def test_evaluation_lag_over_the_bound_refuses_with_a_retry_after_from_the_excess():
    admission = Admission(max_in_flight=0, max_evaluation_lag_s=2.0)
    admission.set_evaluation_lag(1.9)
    assert admission.refusal() is None
    admission.set_evaluation_lag(5.2)
    refused = admission.refusal()
    assert refused.reason is Reason.EVALUATION_LAG and refused.retry_after_s == 4
    assert "rule evaluator is 5.2s behind on accepted data (limit 2s" in refused.message
    admission.set_evaluation_lag(900.0)
    assert admission.refusal().retry_after_s == 30  # capped: a sender should come back and look again
    admission.set_evaluation_lag(None)  # no streams worker: nothing to wait for
    assert admission.refusal() is None


def test_bounds_of_zero_are_off():
    admission = Admission(max_in_flight=0, max_evaluation_lag_s=0)
    admission.set_evaluation_lag(1e6)
    admission.in_flight = 10_000
    assert admission.refusal() is None


def test_lag_is_the_age_of_our_oldest_record_not_yet_evaluated():
    offsets = AcceptedOffsets(resolution_s=0.05)
    for offset, at in ((0, 10.0), (1, 10.01), (2, 11.0), (3, 12.0)):
        offsets.acked(0, offset, at)
    offsets.acked(1, 0, 11.5)
    progress = GroupProgress(live=True, committed={0: 2, 1: 1})
    assert evaluation_lag_s(progress, offsets, now=13.0) == 2.0  # partition 0's offset 2, acked at 11.0
    assert evaluation_lag_s(GroupProgress(True, {0: 4, 1: 1}), offsets, now=13.0) == 0.0
    # A partition the group has no offset for has evaluated nothing of ours.
    offsets.acked(2, 0, 12.5)
    assert evaluation_lag_s(GroupProgress(True, {0: 4, 1: 1}), offsets, now=13.0) == 0.5


def test_acks_within_the_resolution_share_a_mark_and_its_earliest_time():
    offsets = AcceptedOffsets(resolution_s=0.05)
    offsets.acked(0, 0, 10.0)
    offsets.acked(0, 1, 10.04)  # same mark
    assert len(offsets) == 1
    # Offset 1 is not evaluated: its age reads from the mark's first ack, at most 50 ms early.
    assert evaluation_lag_s(GroupProgress(True, {0: 1}), offsets, now=11.0) == 1.0
    assert evaluation_lag_s(GroupProgress(True, {0: 2}), offsets, now=11.0) == 0.0


def test_marks_are_bounded_when_nobody_evaluates():
    offsets = AcceptedOffsets(resolution_s=0.05, max_marks=100)
    for i in range(1000):
        offsets.acked(0, i, i * 0.1)
    assert len(offsets) == 100
    # The oldest marks were dropped: the lag reads at least max_marks × resolution, still over any bound.
    assert evaluation_lag_s(GroupProgress(True, {0: 0}), offsets, now=100.0) >= 100 * 0.05


def test_no_streams_worker_turns_the_signal_off():
    offsets = AcceptedOffsets()
    offsets.acked(0, 5, 1.0)
    assert evaluation_lag_s(None, offsets, now=100.0) is None  # the group never committed
    assert evaluation_lag_s(GroupProgress(live=False, committed={0: 0}), offsets, now=100.0) is None  # it left
    assert evaluation_lag_s(GroupProgress(live=True, committed={}), offsets, now=100.0) is None


def lag_with_stalls(stalls: Stalls, progress: GroupProgress, offsets: AcceptedOffsets, now: float) -> float | None:
    """What the group watcher hands the admission: the lag without the stalled partitions."""
    return evaluation_lag_s(progress, offsets, now, stalls.update(progress, offsets, now))


def test_a_partition_the_group_does_not_move_on_stops_counting_until_it_moves():
    """Ingest refusing for a partition the worker does not commit would wait forever: no record comes to move it."""
    offsets = AcceptedOffsets(resolution_s=0.05)
    offsets.acked(0, 7, 100.0)  # our last records before the refusals began
    offsets.acked(1, 3, 100.0)
    stalls = Stalls(stall_s=10)
    stuck = GroupProgress(True, {0: 7, 1: 3})
    assert lag_with_stalls(stalls, stuck, offsets, now=101.0) == 1.0
    assert lag_with_stalls(stalls, stuck, offsets, now=105.0) == 5.0  # a worker catching up gets its time
    assert lag_with_stalls(stalls, stuck, offsets, now=111.0) == 0.0  # neither moved for 10 s: shedding stops
    assert stalls.stalled == {0, 1}
    moved = GroupProgress(True, {0: 7, 1: 4})  # partition 1 evaluated our record; 0 still stuck
    assert lag_with_stalls(stalls, moved, offsets, now=112.0) == 0.0
    assert stalls.stalled == {0}
    offsets.acked(1, 9, 112.0)  # a new record on partition 1 counts again, from its own age
    assert lag_with_stalls(stalls, moved, offsets, now=113.0) == 1.0


def test_a_worker_that_creeps_is_stalled_too():
    """Seen in the kill test: the commit moved a record now and then, never catching up; ingest refused for good."""
    offsets = AcceptedOffsets(resolution_s=0.05)
    for n in range(10):
        offsets.acked(0, 10 * n, 100.0 + n)  # a record a second, 100–109 s
    stalls = Stalls(stall_s=10)
    assert lag_with_stalls(stalls, GroupProgress(True, {0: 0}), offsets, now=110.0) == 10.0
    assert lag_with_stalls(stalls, GroupProgress(True, {0: 11}), offsets, now=115.0) == 13.0  # moved, still behind
    assert lag_with_stalls(stalls, GroupProgress(True, {0: 21}), offsets, now=120.0) == 0.0  # 17 s old: not caught up
    assert stalls.stalled == {0}
    assert lag_with_stalls(stalls, GroupProgress(True, {0: 91}), offsets, now=121.0) == 0.0  # every one evaluated
    assert stalls.stalled == frozenset()


def test_a_worker_catching_up_is_never_stalled():
    offsets = AcceptedOffsets(resolution_s=0.05)
    for n in range(20):
        offsets.acked(0, n, 100.0 + n)  # 20 s of records
    stalls = Stalls(stall_s=10)
    lags = [lag_with_stalls(stalls, GroupProgress(True, {0: 2 * k}), offsets, now=120.0 + k) for k in range(10)]
    assert lags == [20.0 - k for k in range(10)]  # two seconds of records evaluated per second: the age falls
    assert stalls.stalled == frozenset()


def test_a_partition_idle_for_long_is_not_stalled_by_a_fresh_record():
    offsets = AcceptedOffsets(resolution_s=0.05)
    stalls = Stalls(stall_s=10)
    progress = GroupProgress(True, {0: 5})
    assert lag_with_stalls(stalls, progress, offsets, now=100.0) == 0.0
    offsets.acked(0, 5, 200.0)  # the first record in 100 s: its own age counts, not the offset's
    assert lag_with_stalls(stalls, progress, offsets, now=203.0) == 3.0
    assert stalls.stalled == frozenset()


def test_offsets_of_a_topic_the_broker_forgot_are_forgotten_too():
    """After the broker restarted empty, offsets start at 0 again: old marks would read as never evaluated."""
    offsets = AcceptedOffsets(resolution_s=0.05)
    offsets.acked(0, 500, 10.0)
    offsets.forget()
    offsets.acked(0, 0, 20.0)
    assert evaluation_lag_s(GroupProgress(True, {0: 1}), offsets, now=21.0) == 0.0


def test_a_partition_the_group_never_committed_can_stall_too():
    offsets = AcceptedOffsets(resolution_s=0.05)
    offsets.acked(3, 40, 100.0)
    stalls = Stalls(stall_s=10)
    progress = GroupProgress(True, {0: 5})  # the group commits partition 0, never 3
    assert lag_with_stalls(stalls, progress, offsets, now=101.0) == 1.0  # the watcher reads every second
    assert lag_with_stalls(stalls, progress, offsets, now=105.0) == 5.0
    assert lag_with_stalls(stalls, progress, offsets, now=111.0) == 0.0
    assert stalls.stalled == {3}
