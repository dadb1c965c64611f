"""The Redis GCRA buckets the API and the notifier share: real Redis from the test stack."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from kernel.ratelimit import GcraLimiter, Rate
from tests.harness import closed_port

pytestmark = pytest.mark.integration


def run(url: str, prefix: str, body):
    async def main():
        clients = [aioredis.Redis.from_url(url) for _ in range(2)]
        try:
            return await body(*(GcraLimiter(c, prefix) for c in clients), clients[0])
        finally:
            for c in clients:
                await c.aclose()
    return asyncio.run(main())


def test_rate_in_microseconds():
    assert (Rate(10).interval_us, Rate(10).tolerance_us) == (100_000, 0)
    assert (Rate(2, burst=3).interval_us, Rate(2, burst=3).tolerance_us) == (500_000, 1_000_000)
    assert Rate(10, burst=0).tolerance_us == 0  # a burst below 1 still lets one request through
    assert Rate(1e9).interval_us == 1


def test_take_refuses_over_the_rate_without_reserving(vigil_env):
    async def body(one, _, __):
        rate = Rate(per_second=10, burst=2)
        waits = [await one.take("k", rate) for _ in range(4)]
        await asyncio.sleep(waits[-1])
        return waits, await one.take("k", rate)
    waits, after = run(vigil_env.env["VIGIL_REDIS_URL"], vigil_env.prefix, body)
    assert waits[:2] == [0, 0] and 0.08 <= waits[2] <= 0.1, waits
    assert waits[3] <= waits[2], "a refused request books nothing: the next one waits no longer"
    assert after == 0, "the token came back when the refusal said"


def test_reserve_books_the_next_slot_however_far_ahead(vigil_env):
    async def body(one, _, __):
        rate = Rate(per_second=10, burst=2)
        return [await one.reserve("k", rate) for _ in range(4)]
    waits = run(vigil_env.env["VIGIL_REDIS_URL"], vigil_env.prefix, body)
    assert waits[:2] == [0, 0] and 0.08 <= waits[2] <= 0.1 and 0.18 <= waits[3] <= 0.2, waits


def test_replicas_share_a_bucket_and_keys_are_independent(vigil_env):
    async def body(one, two, client):
        rate = Rate(per_second=1)
        taken = [await one.take("a", rate), await two.take("a", rate), await two.take("b", rate)]
        stored = {k.decode(): await client.pttl(k) async for k in client.scan_iter(f"{vigil_env.prefix}:*")}
        return taken, stored
    taken, stored = run(vigil_env.env["VIGIL_REDIS_URL"], vigil_env.prefix, body)
    assert taken[0] == 0 and 0.9 <= taken[1] <= 1 and taken[2] == 0, taken
    assert set(stored) == {f"{vigil_env.prefix}:a", f"{vigil_env.prefix}:b"}
    assert all(0 < ttl <= 2_000 for ttl in stored.values()), "a bucket expires once it is full again"


def test_redis_not_answering_is_the_callers_to_handle(vigil_env):
    async def body(one, _, __):
        with pytest.raises(RedisError):
            await one.take("k", Rate(1))
        with pytest.raises(RedisError):
            await one.reserve("k", Rate(1))
    run(f"redis://127.0.0.1:{closed_port()}", vigil_env.prefix, body)
