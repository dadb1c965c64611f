"""Enrichment from the device registry (Postgres table `devices`), cached in Redis and in memory.

A sample whose `device` or `host` label names a registered device gets that device's labels
(the sample's own labels win on conflict). Lookups are per request for the distinct ids only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from infra.retry import RetryableError
from schemas.records import Sample

_MISSING = "{}"  # cached "not registered" marker, so unknown hosts don't hit Postgres every time
# Redis key of one device's cached labels, + the device id; the API deletes it when the registry changes.
CACHE_KEY_PREFIX = "{prefix}:device:"


class DeviceRegistry:
    """Device id → labels, read through a short in-process cache, Redis, then Postgres."""

    def __init__(self, pool: AsyncConnectionPool, redis: aioredis.Redis, key_prefix: str,
                 label_keys: Iterable[str], ttl_s: int, local_ttl_s: float = 5.0) -> None:
        self._pool = pool
        self._redis = redis
        self._key_prefix = CACHE_KEY_PREFIX.format(prefix=key_prefix)
        self.label_keys = tuple(label_keys)
        self._ttl_s = ttl_s
        self._local_ttl_s = local_ttl_s
        self._local: dict[str, tuple[float, dict[str, str]]] = {}

    async def lookup(self, ids: set[str], now: float | None = None) -> dict[str, dict[str, str]]:
        """Labels of each registered id among `ids` (unregistered ids are absent)."""
        now = time.monotonic() if now is None else now
        found: dict[str, dict[str, str]] = {}
        wanted = []
        for device_id in ids:
            hit = self._local.get(device_id)
            if hit is not None and hit[0] > now:
                if hit[1]:
                    found[device_id] = hit[1]
            else:
                wanted.append(device_id)
        if not wanted:
            return found
        fetched = await self._from_redis(wanted)
        missing = [d for d in wanted if d not in fetched]
        if missing:
            from_db = await self._from_postgres(missing)
            await self._cache(missing, from_db)
            fetched.update({d: from_db.get(d, {}) for d in missing})
        if len(self._local) > 100_000:
            self._local.clear()
        for device_id, labels in fetched.items():
            self._local[device_id] = (now + self._local_ttl_s, labels)
            if labels:
                found[device_id] = labels
        return found

    async def _from_redis(self, ids: list[str]) -> dict[str, dict[str, str]]:
        try:
            values = await self._redis.mget([self._key_prefix + d for d in ids])
        except aioredis.RedisError:
            return {}  # the cache is an optimisation: fall through to Postgres
        return {d: json.loads(v) for d, v in zip(ids, values) if v is not None}

    async def _from_postgres(self, ids: list[str]) -> dict[str, dict[str, str]]:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute("SELECT device_id, labels FROM devices WHERE device_id = ANY(%s)", (ids,))
                rows = await cur.fetchall()
        except psycopg.Error as exc:
            raise RetryableError(f"device registry unavailable: {exc}", retry_after=5) from exc
        return {device_id: {str(k): str(v) for k, v in labels.items()} for device_id, labels in rows}

    async def _cache(self, ids: list[str], labels: dict[str, dict[str, str]]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for device_id in ids:
                    value = json.dumps(labels[device_id]) if device_id in labels else _MISSING
                    pipe.set(self._key_prefix + device_id, value, ex=self._ttl_s)
                await pipe.execute()
        except aioredis.RedisError:
            pass

    async def enrich(self, samples: list[Sample]) -> None:
        """Add registered device labels to each sample in place."""
        keys = self.label_keys
        ids = {s["labels"][k] for s in samples for k in keys if k in s["labels"]}
        if not ids:
            return
        devices = await self.lookup(ids)
        if not devices:
            return
        enriched: dict[int, dict[str, str]] = {}  # one new dict per shared label set, still shared
        for sample in samples:
            labels = sample["labels"]
            done = enriched.get(id(labels))
            if done is None:
                done = enriched[id(labels)] = self._merge(labels, devices)
            sample["labels"] = done

    def _merge(self, labels: dict[str, str], devices: dict[str, dict[str, str]]) -> dict[str, str]:
        """The sample's own labels win over the registry's (the sender knows best)."""
        for key in self.label_keys:
            extra = devices.get(labels.get(key, ""))
            if extra:
                return {**extra, **labels}
        return labels
