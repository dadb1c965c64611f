"""Running the notifier's dispatcher with its real parts (Redis ledger and limiter, Kafka outbox) in a test."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from kernel.kafka import make_producer
from kernel.retry import Backoff
from kernel.settings import NotifierSettings
from notifier.idempotency import SentLedger, new_owner_id
from notifier.limiter import Limiter
from notifier.outbox import Outbox
from notifier.dispatch import Dispatcher
from kernel.alerting.receivers import ReceiverConfig
from notifier.registry import build_receivers, close_receivers


def run(vigil_env, config: ReceiverConfig, body):
    """`body(dispatcher, integrations of config, ledger, redis)` inside a loop; returns what it returns."""
    settings = NotifierSettings(**{k.removeprefix("VIGIL_").lower(): v for k, v in vigil_env.env.items()})

    async def main():
        store = aioredis.Redis.from_url(vigil_env.env["VIGIL_REDIS_URL"])
        ledger = SentLedger(store, vigil_env.prefix, new_owner_id())
        await ledger.announce()
        outbox, stop = Outbox(make_producer(settings), settings.topics), asyncio.Event()
        dispatcher = Dispatcher(ledger, Limiter(store, vigil_env.prefix), outbox, Backoff(0.05, 0.1), 3, stop)
        receivers = build_receivers([config], settings)

        async def pump():
            while not stop.is_set():
                outbox.poll()
                await asyncio.sleep(0.005)
        pumping = asyncio.create_task(pump())
        try:
            return await body(dispatcher, receivers[config.name].integrations, ledger, store)
        finally:
            stop.set()
            await pumping
            outbox.flush(10)
            await close_receivers(receivers)
            await store.aclose()
    return asyncio.run(main())
