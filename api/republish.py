"""Refilling the compacted topics (rules, silences) from Postgres, once per incarnation of each topic.

The embedded broker keeps topics in memory: after it restarts, the rules and silences topics are
empty while Postgres still holds every rule and silence, and a worker started then would know none
of them. The API refills them when it starts and whenever its broker watch sees the broker restart.
Several API processes may all notice; `claim` makes exactly one republish into a given topic id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from psycopg import AsyncCursor

from kernel.kafka import ensure_topics, topic_ids
from kernel.migrate import migrate
from kernel.retry import Backoff, retry_forever_async
from kernel.settings import ApiSettings

log = logging.getLogger(__name__)


class Republishable(Protocol):
    async def publish_all(self, topic_id: str) -> int | None: ...


async def claim(cur: AsyncCursor, topic: str, topic_id: str, records: int) -> bool:
    """Record that this transaction refills `topic` at `topic_id`; False when another process already did.

    Called inside the transaction that publishes: a failed publish rolls the claim back with it.
    """
    await cur.execute("INSERT INTO topic_republished (topic, topic_id, records) VALUES (%s, %s, %s) "
                      "ON CONFLICT DO NOTHING", (topic, topic_id, records))
    return cur.rowcount == 1


async def republish(settings: ApiSettings, stores: dict[str, tuple[Republishable, str]],
                    backoff: Backoff = Backoff()) -> None:
    """Migrate, create the topics and refill each store's topic unless done already, retrying until both answer.

    `stores` maps what is published ("rules") to its store and topic.
    """
    pending = dict(stores)

    async def refill() -> None:
        await asyncio.to_thread(migrate, settings.postgres_dsn.get_secret_value())
        await asyncio.to_thread(ensure_topics, settings)
        ids = await asyncio.to_thread(topic_ids, settings, [topic for _, topic in pending.values()])
        for what, (store, topic) in list(pending.items()):
            count = await store.publish_all(ids[topic])
            if count is None:
                log.info("%s: %s was refilled already (topic id %s)", what, topic, ids[topic])
            else:
                log.info("republished %d %s to %s (topic id %s)", count, what, topic, ids[topic])
            del pending[what]

    if pending:  # Kafka or Postgres not up yet: the API serves meanwhile, and retries any error
        await retry_forever_async(refill, lambda: f"republishing the {next(iter(pending))}", backoff,
                                  retry_on=(Exception,), logger=log)
