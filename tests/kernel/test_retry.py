"""The retry loops: back off, stop on permanent errors, log when the error changes and when it ends."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kernel.retry import (Backoff, ErrorLog, PermanentError, RetryableError, retry_forever, retry_forever_async,
                          wait_or_stop)

FAST = Backoff(initial_s=0.001, max_s=0.002)


def failing(*errors: Exception, result: str = "done"):
    """An action that raises each of `errors` in turn, then returns `result`; `calls` counts its calls."""
    pending = list(errors)

    def action() -> str:
        action.calls += 1
        if pending:
            raise pending.pop(0)
        return result
    action.calls = 0
    return action


def messages(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


def test_error_log_logs_each_change_and_the_recovery_once(caplog):
    caplog.set_level(logging.INFO)
    errors = ErrorLog(logging.getLogger("test"))
    assert not errors.recovered("up again")  # nothing failed: nothing to say
    logged = [errors.failed(e, "down: %s", e) for e in ("refused", "refused", "timeout", "timeout", "refused")]
    assert logged == [True, False, True, False, True]
    assert errors.recovered("up again") and not errors.recovered("up again")
    assert errors.failed("refused", "down: %s", "refused"), "after a recovery the same error is news again"
    assert messages(caplog) == [(logging.WARNING, "down: refused"), (logging.WARNING, "down: timeout"),
                                (logging.WARNING, "down: refused"), (logging.INFO, "up again"),
                                (logging.WARNING, "down: refused")]


def test_retry_forever_logs_when_the_error_changes(caplog):
    caplog.set_level(logging.INFO)
    action = failing(RetryableError("a"), RetryableError("a"), RetryableError("b"))
    assert retry_forever(action, "the write", FAST) == "done" and action.calls == 4
    assert messages(caplog) == [(logging.WARNING, "the write failed (attempt 1), retrying: a"),
                                (logging.WARNING, "the write failed (attempt 3), retrying: b"),
                                (logging.INFO, "the write succeeded after 4 attempts")]


def test_retry_forever_honours_retry_after_up_to_the_cap():
    slept = []
    action = failing(RetryableError("busy", retry_after=60), RetryableError("busy", retry_after=0.0))
    retry_forever(action, "the write", Backoff(initial_s=0.1, max_s=5), sleep=slept.append)
    assert slept[0] == 5 and 0.05 <= slept[1] <= 0.2, slept


def test_retry_forever_async_retries_what_it_is_told_and_names_what_failed(caplog):
    caplog.set_level(logging.INFO)
    action = failing(OSError("refused"), OSError("refused"), KeyError("x"))

    async def attempt():
        return action()
    done = asyncio.run(retry_forever_async(attempt, lambda: f"step {action.calls}", FAST, retry_on=(OSError, KeyError)))
    assert done == "done" and action.calls == 4
    assert messages(caplog) == [(logging.WARNING, "step 1 failed (attempt 1), retrying: refused"),
                                (logging.WARNING, "step 3 failed (attempt 3), retrying: 'x'"),
                                (logging.INFO, "step 3 succeeded after 4 attempts")]


@pytest.mark.parametrize("error", [PermanentError("bad payload"), ValueError("a bug")])
def test_retry_forever_async_does_not_retry_permanent_or_other_errors(error):
    action = failing(error)

    async def attempt():
        return action()
    with pytest.raises(type(error)):
        asyncio.run(retry_forever_async(attempt, "the send", FAST))
    assert action.calls == 1


def test_retry_forever_async_gives_up_with_the_last_error_once_stopping():
    async def main():
        stop = asyncio.Event()

        async def attempt():
            stop.set()  # the process stops while this attempt fails
            raise RetryableError("still down")
        await retry_forever_async(attempt, "the send", Backoff(initial_s=60, max_s=60), stop=stop)
    with pytest.raises(RetryableError, match="still down"):
        asyncio.run(asyncio.wait_for(main(), 5))


def test_wait_or_stop():
    async def main():
        stop = asyncio.Event()
        slept = await wait_or_stop(stop, 0.01)
        stop.set()
        return slept, await wait_or_stop(stop, 60), await wait_or_stop(None, 0.01)
    assert asyncio.run(main()) == (False, True, False)
