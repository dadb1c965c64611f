"""Per-key request rates: a token bucket in Redis (GCRA), shared by every API process.

GCRA (https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm) is a token bucket kept as one
number per key, the theoretical arrival time of the next request; one Lua script decides
atomically on Redis' own clock. A request over the bucket is refused (not queued) and told when a
token comes back. When Redis does not answer, requests pass and are counted: the limit protects
the stores, and an API that refuses everyone while Redis restarts would protect nothing.
"""

from __future__ import annotations

import logging
import math

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.keys import ApiKey
from api.metrics import RATE_LIMITED, RATE_UNCHECKED

log = logging.getLogger(__name__)


# Returns 0 when the request may go, else the microseconds until it could.
_TAKE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allowed_at = tat - tolerance
if allowed_at > now then return allowed_at - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return 0
"""


class RateLimiter:
    """`check(key)`: None when the key may make a request now, else the seconds to wait (Retry-After)."""

    def __init__(self, client: aioredis.Redis, prefix: str, per_second: float, burst: int) -> None:
        self._take = client.register_script(_TAKE)
        self._prefix = prefix
        self.per_second = per_second
        self.burst = burst

    async def check(self, key: ApiKey) -> int | None:
        """Take a token from the key's bucket; None if there was one, else whole seconds until there is."""
        per_second = key.rate_per_s or self.per_second
        burst = key.burst or self.burst
        interval_us = max(1, round(1_000_000 / per_second))
        try:
            wait_us = int(await self._take(keys=[f"{self._prefix}:api-rate:{key.id}"],
                                           args=[interval_us, (max(1, burst) - 1) * interval_us]))
        except (RedisError, OSError) as exc:
            RATE_UNCHECKED.inc()
            log.warning("rate limit not checked, Redis did not answer: %s", type(exc).__name__)
            return None
        if wait_us <= 0:
            return None
        RATE_LIMITED.inc()
        return max(1, math.ceil(wait_us / 1_000_000))
