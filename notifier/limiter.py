"""Send-rate limits shared by every notifier replica: the Redis GCRA buckets of kernel/ratelimit.py.

Each send *reserves* the next slot of its (kind, key) bucket and waits for it, so replicas queue
fairly and nothing is dropped. When Redis does not answer, the error goes up to the dispatcher,
which sends nothing without Redis and retries (notifier/dispatch.py).
"""

from __future__ import annotations

import asyncio
import hashlib

import redis.asyncio as aioredis

from kernel.ratelimit import GcraLimiter, Rate
from kernel.retry import wait_or_stop
from notifier import metrics

# PagerDuty Events API v2: "approximately 120 calls/minute per integration key ... calculated over
# a 60 second window looking back from the current time".
# https://developer.pagerduty.com/docs/events-api-v2/rate-limits/
PAGERDUTY_EVENTS_PER_MINUTE = 120.0
# A burst of 1 spaces events evenly, so no 60 s window ever holds more than 120.
PAGERDUTY_BURST = 1
# Slack: "1 per second" for posting messages, per channel ("short bursts >1 allowed", no guarantee).
# https://api.slack.com/docs/rate-limits
SLACK_MESSAGES_PER_SECOND = 1.0
SLACK_BURST = 1


class Limiter:
    """Reserves send slots per (kind, key) in Redis; `acquire` sleeps until the slot comes."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._buckets = GcraLimiter(client, prefix)

    @staticmethod
    def _key(kind: str, key: str) -> str:
        # Limited keys are credentials (routing keys, webhook URLs): Redis only ever sees a hash.
        return f"limit:{kind}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def reserve(self, kind: str, key: str, rate: Rate) -> float:
        """Reserve the next slot for `key`; seconds until it comes (0: send now)."""
        return await self._buckets.reserve(self._key(kind, key), rate)

    async def acquire(self, kind: str, key: str, rate: Rate, stop: asyncio.Event) -> bool:
        """Wait for a slot (counted when there is a wait); False when `stop` was set meanwhile."""
        wait = await self.reserve(kind, key, rate)
        if wait <= 0:
            return True
        metrics.LIMITER_WAITS.labels(kind).inc()
        metrics.LIMITER_WAIT_SECONDS.labels(kind).inc(wait)
        return not await wait_or_stop(stop, wait)
