"""The error taxonomy (permanent vs retryable) and one backoff helper for every stage."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class PermanentError(Exception):
    """Retrying cannot help (bad payload, a 4xx from a receiver): give up and report."""


class RetryableError(Exception):
    """May succeed later (timeout, 5xx, 429, broker or database unavailable)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff, capped, with "equal jitter": half the delay fixed, half random (never near 0)."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number `attempt` (1-based)."""
        ceiling = min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))
        return ceiling / 2 + rng() * ceiling / 2


def retry_forever(action: Callable[[], T], what: str, backoff: Backoff = Backoff(),
                  should_stop: Callable[[], bool] = lambda: False,
                  sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `action` until it succeeds; re-raise PermanentError; log only when the error changes."""
    attempt = 0
    last_error = None
    while True:
        attempt += 1
        try:
            result = action()
        except PermanentError:
            raise
        except RetryableError as exc:
            if should_stop():
                raise
            if str(exc) != last_error:
                log.warning("%s failed (attempt %d), retrying: %s", what, attempt, exc)
                last_error = str(exc)
            delay = backoff.delay(attempt)
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, backoff.max_s))
            sleep(delay)
            continue
        if last_error is not None:
            log.info("%s succeeded after %d attempts", what, attempt)
        return result
