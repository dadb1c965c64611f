"""A batch the store refuses is split until only the records at fault are dropped (no servers)."""

from __future__ import annotations

import pytest

from kernel.retry import RetryableError
from sinks.base import Consumed, WriteRejected, write_isolating


class Store:
    """An in-memory store refusing some values, all or nothing per write, like a transaction."""

    def __init__(self, refused: set[int]) -> None:
        self.refused = refused
        self.rows: set[int] = set()
        self.writes = 0

    def write(self, records: list[Consumed]) -> None:
        """Store all records, or none when any is refused."""
        self.writes += 1
        bad = [r.value for r in records if r.value in self.refused]
        if bad:
            raise WriteRejected(f"refused {bad}", "rejected")
        self.rows.update(r.value for r in records)


def batch(n: int) -> list[Consumed]:
    """`n` consumed records whose values are their offsets."""
    return [Consumed("t", 0, i, i) for i in range(n)]


def test_a_good_batch_is_one_write():
    store, dropped = Store(set()), []
    write_isolating(store.write, batch(100), lambda r, e: dropped.append(r.value))
    assert store.rows == set(range(100)) and store.writes == 1 and dropped == []


def test_only_the_refused_records_are_dropped_and_every_other_is_stored():
    store, dropped = Store({3, 64, 65}), []
    write_isolating(store.write, batch(100), lambda r, e: dropped.append((r.offset, str(e))))
    assert store.rows == set(range(100)) - {3, 64, 65}
    assert dropped == [(3, "refused [3]"), (64, "refused [64]"), (65, "refused [65]")]


def test_a_retryable_error_is_not_split_but_passed_on():
    def failing(records):
        raise RetryableError("store down")

    with pytest.raises(RetryableError):
        write_isolating(failing, batch(10), lambda r, e: pytest.fail("nothing may be dropped"))
