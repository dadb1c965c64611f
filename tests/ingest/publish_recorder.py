"""Test doubles for connector tests: a `publish` that records, polling for a condition, stopping a task.

`publish` is Vigil's own boundary between a connector and the pipeline; the Kafka side behind it
is tested through `vigil connectors` and ingest, so connector tests record what crosses it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from kernel.retry import RetryableError
from ingest.connectors.base import AVAILABILITY
from ingest.pipeline import Problem

DEADLINE_S = 20.0  # generous: CI machines are slow and shared; a pass is usually well under 5 s
_ANY = object()


class Recorder:
    """A `publish` that keeps every call; `fail = n` makes the next n calls raise RetryableError."""

    def __init__(self, device: str | None = None) -> None:
        self.device = device  # the device samples() looks at by default; None: every device
        self.calls: list[tuple[str, list[dict], list[Problem]]] = []
        self.fail = 0

    async def __call__(self, device: str, samples: list, problems: list[Problem]) -> int:
        if self.fail:
            self.fail -= 1
            raise RetryableError("Kafka is away")
        self.calls.append((device, list(samples), list(problems)))
        return len(samples)

    def samples(self, name: str, device=_ANY) -> list[dict]:
        device = self.device if device is _ANY else device
        return [s for d, samples, _ in self.calls if device is None or d == device
                for s in samples if s["name"] == name]

    def values(self, name: str, device=_ANY) -> list[float]:
        return [s["value"] for s in self.samples(name, device)]

    def last(self, name: str, device=_ANY) -> float | None:
        found = self.values(name, device)
        return found[-1] if found else None

    def last_up(self) -> float | None:
        return self.last(AVAILABILITY)

    def problems(self) -> list[Problem]:
        return [p for _, _, problems in self.calls for p in problems]


async def until(check: Callable[[], object], what: str, timeout: float = DEADLINE_S) -> None:
    """Poll `check` until it is true, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def stop(task: asyncio.Task) -> None:
    """Cancel a connector's task and check it ends cleanly (closing a session may take its timeouts)."""
    task.cancel()
    try:
        await asyncio.wait_for(task, timeout=20)
    except asyncio.CancelledError:
        pass
    assert task.cancelled()
