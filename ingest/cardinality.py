"""A per-source limit on new series per hour, shared by every ingest process through Redis.

A series counts once per clock hour and source: the first time any ingest process sees it, it
joins the Redis set `PREFIX:series:SOURCE:HOUR`. When the set already holds the limit, further
new series of that source are refused for the rest of the hour; series already admitted keep
flowing. Two processes admitting at the same instant can overshoot by the size of one request.
If Redis is unreachable the limit is not enforced (counted in
`vigil_ingest_cardinality_unchecked_total`): losing data is worse than a late limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from ingest import metrics

HOUR_S = 3600
# Series ids remembered this hour, all sources together (~70 bytes each in a set: ~35 MB). Past it,
# new ids are still checked against Redis on every request, just not remembered here.
LOCAL_KNOWN_MAX = 500_000


class CardinalityLimiter:
    """Admits or refuses the series ids of one request against their source's hourly limit."""

    def __init__(self, redis: aioredis.Redis, key_prefix: str, now: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._now = now
        self._known: dict[tuple[str, int], set[int]] = {}  # admitted this hour, seen by this process

    async def refused(self, source: str, limit: int, series_ids: set[int]) -> set[int]:
        """The ids to refuse: new this hour for `source` beyond `limit` new series."""
        hour = int(self._now() // HOUR_S)
        known = self._known.get((source, hour))
        if known is None:
            self._known = {k: v for k, v in self._known.items() if k[1] == hour}  # a new hour starts afresh
            known = self._known[(source, hour)] = set()
        unknown = [i for i in series_ids if i not in known]
        if not unknown:
            return set()
        key = f"{self._prefix}:series:{source}:{hour}"
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.smismember(key, [str(i) for i in unknown])
                pipe.scard(key)
                member_flags, count = await pipe.execute()
            new = [i for i, flag in zip(unknown, member_flags) if not flag]
            room = max(0, limit - count)
            admitted, refused = new[:room], set(new[room:])
            if admitted:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.sadd(key, *[str(i) for i in admitted])
                    pipe.expire(key, 2 * HOUR_S)
                    await pipe.execute()
        except aioredis.RedisError:
            metrics.CARDINALITY_UNCHECKED.inc(len(unknown))
            return set()
        if sum(map(len, self._known.values())) < LOCAL_KNOWN_MAX:  # a total over sources: their number is open
            known.update(i for i in unknown if i not in refused)
        return refused
