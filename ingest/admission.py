"""Admission control: at saturation a write is answered 503 + Retry-After at once, before its body is read.

Two bounds, each a reason (a bounded metric label):
- `in_flight`: write requests this process is reading, parsing and publishing at once. Beyond it,
  more concurrency only queues inside the process: each answer comes later and nothing more is done.
- `evaluation_lag`: seconds of this process's accepted data the streams worker has not yet evaluated
  (ingest/evaluation_lag.py). Beyond it, accepting more only makes alerts later.

Every HTTP adapter asks before it reads a body and renders the refusal in its own protocol's shape;
the status is 503 for all three (see each server's docstring for the spec that makes 503 retried).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from ingest import metrics

STATUS = 503
RECENT_S = 5.0  # /healthz reports a refusal this recent as shedding
MAX_RETRY_AFTER_S = 30


class Reason(StrEnum):
    """Why a write was refused before being read."""

    IN_FLIGHT = "in_flight"
    EVALUATION_LAG = "evaluation_lag"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A write refused at admission: why, the sender's message, and when to come back."""

    reason: Reason
    message: str
    retry_after_s: int


class Admission:
    """One per ingest process, shared by every HTTP adapter; checks are two comparisons when not saturated."""

    def __init__(self, max_in_flight: int, max_evaluation_lag_s: float, clock=time.monotonic) -> None:
        self.max_in_flight = max_in_flight  # 0: no bound
        self.max_evaluation_lag_s = max_evaluation_lag_s  # 0: the signal is off
        self.in_flight = 0
        self.evaluation_lag_s: float | None = None  # None: nobody evaluates rules, or not measured
        self._clock = clock
        self._last_refused: dict[Reason, float] = {}

    def set_evaluation_lag(self, lag_s: float | None) -> None:
        """The latest evaluation lag (from the group watcher); None turns the signal off."""
        self.evaluation_lag_s = lag_s

    def refusal(self) -> Refusal | None:
        """Why a write arriving now would be refused, or None."""
        lag, bound = self.evaluation_lag_s, self.max_evaluation_lag_s
        if bound and lag is not None and lag > bound:
            return Refusal(Reason.EVALUATION_LAG,
                           f"Vigil is saturated: the rule evaluator is {lag:.1f}s behind on accepted data (limit "
                           f"{bound:g}s, VIGIL_INGEST_MAX_EVALUATION_LAG_S); nothing of this request was written, "
                           "retry it", min(MAX_RETRY_AFTER_S, max(1, math.ceil(lag - bound))))
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return Refusal(Reason.IN_FLIGHT,
                           f"Vigil is saturated: this ingest process is already handling {self.in_flight} writes "
                           f"(limit {self.max_in_flight}, VIGIL_INGEST_MAX_IN_FLIGHT); nothing of this request "
                           "was written, retry it", 1)
        return None

    @contextmanager
    def slot(self, protocol: str) -> Iterator[Refusal | None]:
        """Hold an in-flight slot for the block, or yield the refusal (counted) when there is none."""
        refused = self.refusal()
        if refused is not None:
            self._last_refused[refused.reason] = self._clock()
            metrics.SHED.labels(protocol, refused.reason.value).inc()
            yield refused
            return
        self.in_flight += 1
        try:
            yield None
        finally:
            self.in_flight -= 1

    def describe(self) -> dict:
        """For /healthz: whether writes are being shed now, why, and the figures behind it."""
        now = self._clock()
        current = self.refusal()
        recent = [reason for reason, at in self._last_refused.items() if now - at <= RECENT_S]
        reasons = sorted({*(current and [current.reason] or []), *recent})
        return {"shedding": bool(reasons), "reasons": [str(r) for r in reasons],
                "message": current.message if current else None,
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight or None,
                "evaluation_lag_s": None if self.evaluation_lag_s is None else round(self.evaluation_lag_s, 3),
                "max_evaluation_lag_s": self.max_evaluation_lag_s or None}
