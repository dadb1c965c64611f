"""Faust's aiokafka transport with a short fetch wait, so an alert doesn't idle in a fetch,
and hooks that run before each offset commit.

Faust builds its worker consumer with ``fetch_max_wait_ms=1500`` hard-coded
(faust/transport/drivers/aiokafka.py, ``_create_worker_consumer``), and Tansu answers a
fetch only when that wait runs out rather than when a record arrives (measured: a produce →
consume hop takes ~200 ms at librdkafka's 500 ms default, ~10 ms at 10 ms). Two Faust hops
at 1.5 s each would put page latency far above a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from weakref import WeakKeyDictionary

import faust
from faust.transport.drivers import aiokafka as driver

from kernel.kafka import FETCH_WAIT_MS


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    """The worker consumer Faust builds, with Vigil's fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when start() builds its Fetcher; Faust exposes no setting for it.
        consumer._fetch_max_wait_ms = FETCH_WAIT_MS
        return consumer


_BEFORE_COMMIT: WeakKeyDictionary[faust.App, list[Callable[[], Awaitable[None]]]] = WeakKeyDictionary()


def before_commit(app: faust.App, hook: Callable[[], Awaitable[None]]) -> None:
    """Run `hook` before each offset commit of `app` (the commit waits for it)."""
    _BEFORE_COMMIT.setdefault(app, []).append(hook)


class _Consumer(driver.Consumer):
    """Faust's aiokafka consumer, running our consumer thread, with hooks before each commit."""

    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Let the app write what the offsets stand for (state checkpoints), then commit."""
        for hook in _BEFORE_COMMIT.get(self.app, ()):
            await hook()
        return await super().commit(topics, start_new_transaction=start_new_transaction)


class Transport(driver.Transport):
    """aiokafka transport whose consumers don't wait 1.5 s in each fetch."""

    Consumer = _Consumer


def install(app: faust.App) -> None:
    """Make ``app`` consume through :class:`Transport` (before the worker starts)."""
    app.transport = Transport(app.conf.broker_consumer, app)
