"""Send-rate limits shared by every notifier replica: GCRA in Redis, one atomic Lua script per send.

GCRA (the generic cell rate algorithm, https://en.wikipedia.org/wiki/Generic_cell_rate_algorithm)
keeps one number per limited key: the theoretical arrival time (TAT) of the next send. Each send
*reserves* the next slot and is told how long to wait for it, so replicas queue fairly and
nothing is dropped. Redis' own clock is used, so replicas on hosts with skewed clocks agree.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis

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

_RESERVE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return wait
"""


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `per_second` sends per second on average, `burst` of them back to back."""

    per_second: float
    burst: int = 1

    @property
    def interval_us(self) -> int:
        return max(1, round(1_000_000 / self.per_second))


class Limiter:
    """Reserves send slots per (kind, key) in Redis; `acquire` sleeps until the slot comes."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._reserve = client.register_script(_RESERVE)
        self._prefix = prefix

    def _key(self, kind: str, key: str) -> str:
        # Limited keys are credentials (routing keys, webhook URLs): Redis only ever sees a hash.
        return f"{self._prefix}:limit:{kind}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def reserve(self, kind: str, key: str, rate: Rate) -> float:
        """Reserve the next slot for `key`; seconds until it comes (0: send now)."""
        tolerance_us = (max(1, rate.burst) - 1) * rate.interval_us
        wait_us = await self._reserve(keys=[self._key(kind, key)], args=[rate.interval_us, tolerance_us])
        return int(wait_us) / 1_000_000

    async def acquire(self, kind: str, key: str, rate: Rate, stop: asyncio.Event) -> bool:
        """Wait for a slot (counted when there is a wait); False when `stop` was set meanwhile."""
        wait = await self.reserve(kind, key, rate)
        if wait <= 0:
            return True
        metrics.LIMITER_WAITS.labels(kind).inc()
        metrics.LIMITER_WAIT_SECONDS.labels(kind).inc(wait)
        return not await wait_or_stop(stop, wait)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopping."""
    try:  # asyncio.timeout: wait_for can swallow a cancel on Python 3.11 (see ingest/opcua/connector.py)
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
