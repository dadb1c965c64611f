"""Prometheus' rules for appending a sample to a series, over any storage with `add(labels, ts, value)`.

Rule evaluation writes its results back into storage, and Prometheus' TSDB head refuses a sample
older than the series' newest one (`out of order sample`) or at the same timestamp with a different
value (`duplicate sample for timestamp`); an identical duplicate is silently accepted. These refusals
make a rule fail its evaluation, so the evaluator must see them.
See https://github.com/prometheus/prometheus/blob/v2.42.0/tsdb/head_append.go (memSeries.appendable).
"""

from __future__ import annotations

import struct
from typing import Protocol

from .labelset import Labels


class AppendError(ValueError):
    """The storage refused a sample; the message is Prometheus' (`out of order sample`, ...)."""


class SampleAppender(Protocol):
    """Where the group writes recorded series, ALERTS and staleness markers."""

    def append(self, labels: Labels, timestamp_ms: int, value: float) -> None:
        """Store one sample, or raise AppendError if the storage refuses it."""
        ...


class Storage(Protocol):
    """Anything that stores samples, like kernel.promql.MemoryStorage."""

    def add(self, labels: dict[str, str], timestamp_ms: int, value: float) -> None:
        """Store one sample."""
        ...


class HeadAppender:
    """Appends to a storage with the TSDB head's ordering rules, remembering each series' newest sample."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._newest: dict[Labels, tuple[int, bytes]] = {}

    def append(self, labels: Labels, timestamp_ms: int, value: float) -> None:
        """Store a sample, or raise AppendError as Prometheus' head would."""
        bits = struct.pack("<d", value)
        newest = self._newest.get(labels)
        if newest is not None:
            newest_ts, newest_bits = newest
            if timestamp_ms < newest_ts:
                raise AppendError("out of order sample")
            if timestamp_ms == newest_ts:
                if bits != newest_bits:
                    raise AppendError("duplicate sample for timestamp")
                return
        self.storage.add(dict(labels), timestamp_ms, value)
        self._newest[labels] = (timestamp_ms, bits)

    def load(self, labels: Labels, timestamp_ms: int, value: float) -> None:
        """Store a test input sample; a refused one is dropped silently, as the test loader's commit does."""
        try:
            self.append(labels, timestamp_ms, value)
        except AppendError:
            pass
