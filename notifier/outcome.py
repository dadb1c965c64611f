"""What one delivery attempt produced, in the same shape for every receiver kind."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(str, Enum):
    """Delivered, worth retrying, or failed for good."""

    DELIVERED = "DELIVERED"
    RETRY = "RETRY"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: verdict, HTTP status if any, the receiver's answer (truncated), Retry-After."""

    verdict: Verdict
    http_status: int | None
    response: str
    retry_after_s: float | None = None
