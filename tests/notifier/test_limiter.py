"""The Redis GCRA limiter, shared by replicas: real Redis from the test stack."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from kernel.ratelimit import Rate
from notifier.limiter import Limiter

pytestmark = pytest.mark.integration


def run(vigil_env, body):
    async def main():
        clients = [aioredis.Redis.from_url(vigil_env.env["VIGIL_REDIS_URL"]) for _ in range(2)]
        try:
            return await body(*(Limiter(c, vigil_env.prefix) for c in clients), clients[0])
        finally:
            for c in clients:
                await c.aclose()
    return asyncio.run(main())


def test_slots_are_spaced_across_replicas(vigil_env):
    async def body(one, two, _):
        rate = Rate(per_second=10, burst=1)
        return [await (one if i % 2 else two).reserve("slack", "https://hooks/x#ops", rate) for i in range(6)]
    waits = run(vigil_env, body)
    assert waits[0] == 0 and waits == sorted(waits)
    assert all(0.08 <= b - a <= 0.101 for a, b in zip(waits, waits[1:])), waits  # 100 ms apart, either replica


def test_a_burst_goes_at_once_then_the_rate_holds(vigil_env):
    async def body(one, _, __):
        rate = Rate(per_second=10, burst=3)
        return [await one.reserve("pagerduty", "key-a", rate) for _ in range(5)]
    waits = run(vigil_env, body)
    assert waits[:3] == [0, 0, 0] and 0.08 <= waits[3] <= 0.1 and 0.18 <= waits[4] <= 0.2


def test_keys_are_independent_and_never_stored_in_clear(vigil_env):
    async def body(one, _, client):
        rate = Rate(per_second=1)
        first = [await one.reserve("pagerduty", key, rate) for key in ("key-a", "key-b", "key-c")]
        stored = [k.decode() async for k in client.scan_iter(f"{vigil_env.prefix}:limit:*")]
        return first, stored
    first, stored = run(vigil_env, body)
    assert first == [0, 0, 0] and len(stored) == 3 and not any("key-" in k for k in stored)


def test_acquire_waits_for_the_slot(vigil_env):
    async def body(one, two, _):
        rate, stop = Rate(per_second=20), asyncio.Event()
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire("slack", "chan", rate, stop) for limiter in (one, two) * 5))
        return time.monotonic() - started
    assert run(vigil_env, body) >= (10 - 1) / 20  # N sends take at least (N - burst) / rate


def test_acquire_gives_up_when_stopping(vigil_env):
    async def body(one, _, __):
        rate, stop = Rate(per_second=0.1), asyncio.Event()
        assert await one.acquire("slack", "slow", rate, stop)
        stop.set()
        return await one.acquire("slack", "slow", rate, stop)
    assert run(vigil_env, body) is False
