"""Rate limits shared by every replica of a stage: GCRA in Redis, one atomic Lua script per request.

GCRA (the generic cell rate algorithm, https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm)
is a token bucket kept as one number per limited key: the theoretical arrival time (TAT) of the
next request. The script decides on Redis' own clock, so replicas on hosts with skewed clocks agree.

A bucket is used one of two ways:
  - `take` refuses a request over the rate and reserves nothing: the API answers 429 with the wait;
  - `reserve` books the next slot however far ahead it is: the notifier waits for it, so replicas
    queue fairly and nothing is dropped.
Both raise redis' errors when Redis does not answer; what that means is the caller's decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS[1]: the bucket. ARGV: the interval between requests and the tolerance (burst - 1 intervals),
# both in microseconds; '1' to book the slot even when it is ahead, '0' to book it only when it is now.
# Returns the microseconds until the request may go (0: now).
_GCRA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if wait > 0 and ARGV[3] == '0' then return wait end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return wait
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `per_second` requests per second on average, `burst` of them back to back."""

    per_second: float
    burst: int = 1

    @property
    def interval_us(self) -> int:
        """Microseconds between requests at the average rate (at least 1)."""
        return max(1, round(1_000_000 / self.per_second))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of the average a request may come: the burst beyond the first, in microseconds."""
        return (max(1, self.burst) - 1) * self.interval_us


class GcraLimiter:
    """Token buckets in Redis, one per key under `prefix`; `take` refuses, `reserve` books ahead."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._gcra = client.register_script(_GCRA)
        self._prefix = prefix

    async def take(self, key: str, rate: Rate) -> float:
        """Take a token from `key`'s bucket: 0 if there was one, else seconds until there is (none taken)."""
        return await self._run(key, rate, book_ahead=False)

    async def reserve(self, key: str, rate: Rate) -> float:
        """Book the next slot of `key`'s bucket: seconds until it comes (0: now)."""
        return await self._run(key, rate, book_ahead=True)

    async def _run(self, key: str, rate: Rate, book_ahead: bool) -> float:
        wait_us = await self._gcra(keys=[f"{self._prefix}:{key}"],
                                   args=[rate.interval_us, rate.tolerance_us, int(book_ahead)])
        return int(wait_us) / 1_000_000
