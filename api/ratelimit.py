"""Per-key request rates: a token bucket in Redis (GCRA, kernel/ratelimit.py), shared by every API process.

A request over its key's bucket is refused (not queued) and told when a token comes back. When
Redis does not answer, requests pass and are counted: the limit protects the stores, and an API
that refuses everyone while Redis restarts would protect nothing.
"""

from __future__ import annotations

import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.keys import ApiKey
from kernel.ratelimit import GcraLimiter, Rate
from api.metrics import RATE_LIMITED, RATE_UNCHECKED

log = logging.getLogger(__name__)


class RateLimiter:
    """`check(key)`: None when the key may make a request now, else the seconds to wait (Retry-After)."""

    def __init__(self, client: aioredis.Redis, prefix: str, per_second: float, burst: int) -> None:
        self._buckets = GcraLimiter(client, prefix)
        self.per_second = per_second
        self.burst = burst

    async def check(self, key: ApiKey) -> int | None:
        """Take a token from the key's bucket; None if there was one, else whole seconds until there is."""
        rate = Rate(key.rate_per_s or self.per_second, key.burst or self.burst)
        try:
            wait = await self._buckets.take(f"api-rate:{key.id}", rate)
        except (RedisError, OSError) as exc:
            RATE_UNCHECKED.inc()
            log.warning("rate limit not checked, Redis did not answer: %s", type(exc).__name__)
            return None
        if wait <= 0:
            return None
        RATE_LIMITED.inc()
        return max(1, math.ceil(wait))
