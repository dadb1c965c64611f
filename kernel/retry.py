"""The error taxonomy (permanent vs retryable), backoff, and the retry loops every stage shares.

A failure that lasts is logged when it starts and each time its error changes, and its end once;
never on every attempt (`ErrorLog`). `retry_forever` and `retry_forever_async` retry an action
with backoff until it succeeds, logging that way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
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

    def after(self, attempt: int, exc: BaseException) -> float:
        """Delay after attempt `attempt` failed with `exc`: the backoff, or longer if the error asked (capped)."""
        delay = self.delay(attempt)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s))
        return delay


class ErrorLog:
    """Logs a failure when it starts and whenever its error changes, and the recovery once; silent in between."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger
        self.error: str | None = None  # the error last logged; None while things work

    def failed(self, error: object, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Note a failure; log `message % args` unless `error` (by its text) is the one last logged."""
        text = str(error)
        if text == self.error:
            return False
        self.error = text
        self._logger.log(level, message, *args)
        return True

    def recovered(self, message: str = "", *args: object, level: int = logging.INFO) -> bool:
        """Note a success; if it ends a failure, log `message % args` (when given) and return True."""
        if self.error is None:
            return False
        self.error = None
        if message:
            self._logger.log(level, message, *args)
        return True


def retry_forever(action: Callable[[], T], what: str, backoff: Backoff = Backoff(),
                  should_stop: Callable[[], bool] = lambda: False,
                  sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `action` until it succeeds; re-raise PermanentError; log only when the error changes."""
    errors = ErrorLog()
    attempt = 0
    while True:
        attempt += 1
        try:
            result = action()
        except PermanentError:
            raise
        except RetryableError as exc:
            if should_stop():
                raise
            errors.failed(exc, "%s failed (attempt %d), retrying: %s", what, attempt, exc)
            sleep(backoff.after(attempt, exc))
            continue
        errors.recovered("%s succeeded after %d attempts", what, attempt)
        return result


async def retry_forever_async(action: Callable[[], Awaitable[T]], what: str | Callable[[], str],
                              backoff: Backoff = Backoff(), *,
                              retry_on: tuple[type[Exception], ...] = (RetryableError,),
                              stop: asyncio.Event | None = None, logger: logging.Logger = log) -> T:
    """Await `action` until it succeeds; log only when the error changes, and the recovery.

    Errors of `retry_on` are retried, PermanentError never; once `stop` is set the last error is
    re-raised. `what` names the action in the log, or is called at each failure to name what failed.
    """
    errors = ErrorLog(logger)
    attempt, failing = 0, ""
    while True:
        attempt += 1
        try:
            result = await action()
        except PermanentError:
            raise
        except retry_on as exc:
            failing = what() if callable(what) else what
            errors.failed(exc, "%s failed (attempt %d), retrying: %s", failing, attempt, exc)
            if await wait_or_stop(stop, backoff.after(attempt, exc)):
                raise
            continue
        errors.recovered("%s succeeded after %d attempts", failing, attempt)
        return result


async def wait_or_stop(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopping."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:  # asyncio.timeout: wait_for can swallow a cancel on Python 3.11 (see ingest/opcua/connector.py)
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
