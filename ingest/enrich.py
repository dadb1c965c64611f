"""Enrichment from the device registry (Postgres table `devices`), cached in Redis and in memory.

A sample whose `device` or `host` label names a registered device gets that device's labels
(the sample's own labels win on conflict). Lookups are per request for the distinct ids only.

Enrichment never refuses data. When Redis or Postgres does not answer within `LOOKUP_TIMEOUT_S`,
the write goes on without it: a device read before keeps its last labels, even past their TTL
(stale while the registry errs), and a device never read goes out unenriched; both are counted.
A store that failed is not asked again for `RETRY_AFTER_S`, so writes don't each wait for it. Only a
store that did not answer (a timeout, a lost or refused connection) counts as failed: a query Postgres
refused answered, so it costs only the ids it asked about their enrichment, not every sender's. An id
Postgres text can't hold (a NUL byte, a lone surrogate) is never a registered device and is not looked up.
Nothing is added to the sample's labels to say so: that would change its series identity.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
import redis.asyncio as aioredis
from psycopg_pool import AsyncConnectionPool

from ingest import metrics
from kernel.device_cache import CACHE_KEY_PREFIX
from schemas.records import Sample

log = logging.getLogger(__name__)

_MISSING = "{}"  # cached "not registered" marker, so unknown hosts don't hit Postgres every time
LOOKUP_TIMEOUT_S = 0.5  # the longest a write waits for Redis, and then for Postgres, before going on without
RETRY_AFTER_S = 5.0     # a store that failed is left alone this long before it is asked again
LOCAL_CACHE_MAX = 100_000
# What says the store did not answer, as opposed to refusing one query: psycopg's OperationalError covers
# a lost, refused or timed-out connection and the pool's PoolTimeout; InterfaceError a closed one.
_UNANSWERED = (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError)


def _storable(device_id: str) -> bool:
    """Whether Postgres text (and a Redis key) can hold the id: no NUL byte, no lone surrogate."""
    if "\x00" in device_id:
        return False
    if device_id.isascii():
        return True
    try:
        device_id.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Store:
    """The health of one store (Redis or Postgres) as lookups saw it; logs when it changes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.retry_at = 0.0
        self.reason: str | None = None  # timeout or error while unavailable, a bounded metric label

    def available(self, now: float) -> bool:
        return now >= self.retry_at

    def failed(self, now: float, exc: BaseException) -> None:
        reason = "timeout" if isinstance(exc, TimeoutError) else "error"
        if self.reason is None:
            log.warning("device registry: %s unavailable (%s), writes go on without it, next try in %.0f s: %s",
                        self.name, reason, RETRY_AFTER_S, str(exc) or type(exc).__name__)
        self.reason, self.retry_at = reason, now + RETRY_AFTER_S

    def answered(self) -> None:
        if self.reason is not None:
            log.info("device registry: %s answers again", self.name)
        self.reason, self.retry_at = None, 0.0


@dataclass(slots=True)
class Lookup:
    """What a lookup found: labels of registered ids, and the ids it could not resolve fresh."""

    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)        # last labels read, past their TTL
    unavailable: set[str] = field(default_factory=set)  # never read, and the registry did not answer
    reason: str = ""                                    # why, when `unavailable`: timeout or error


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
        # id → (fresh until, labels); past that time an entry is still the fallback while the registry errs
        self._local: dict[str, tuple[float, dict[str, str]]] = {}
        self._cache_store = _Store("Redis")
        self._registry_store = _Store("Postgres")
        self._query_error: str | None = None  # the last devices query Postgres refused, logged once

    async def lookup(self, ids: set[str], now: float | None = None) -> Lookup:
        """Labels of each registered id among `ids` (unregistered ids are absent), and what was not fresh."""
        now = time.monotonic() if now is None else now
        result = Lookup()
        wanted = []
        for device_id in ids:
            hit = self._local.get(device_id)
            if hit is not None and hit[0] > now:
                if hit[1]:
                    result.labels[device_id] = hit[1]
            elif _storable(device_id):
                wanted.append(device_id)
        if not wanted:
            return result
        fetched = await self._from_redis(wanted, now)
        missing = [d for d in wanted if d not in fetched]
        if missing:
            from_db = await self._from_postgres(missing, now)
            if from_db is None:
                self._fall_back(missing, result)
            else:
                await self._cache(missing, from_db, now)
                fetched.update({d: from_db.get(d, {}) for d in missing})
        if len(self._local) > LOCAL_CACHE_MAX:
            self._local.clear()
        for device_id, labels in fetched.items():
            self._local[device_id] = (now + self._local_ttl_s, labels)
            if labels:
                result.labels[device_id] = labels
        return result

    def _fall_back(self, ids: list[str], result: Lookup) -> None:
        """The registry did not answer for `ids`: their last labels read if any, else nothing."""
        for device_id in ids:
            last = self._local.get(device_id)
            if last is None:
                result.unavailable.add(device_id)
                continue
            result.stale.add(device_id)
            if last[1]:
                result.labels[device_id] = last[1]
        result.reason = self._registry_store.reason or "error"

    async def _from_redis(self, ids: list[str], now: float) -> dict[str, dict[str, str]]:
        if not self._cache_store.available(now):
            return {}  # the cache is an optimisation: fall through to Postgres
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                values = await self._redis.mget([self._key_prefix + d for d in ids])
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            self._cache_store.failed(now, exc)
            return {}
        self._cache_store.answered()
        return {d: json.loads(v) for d, v in zip(ids, values) if v is not None}

    async def _from_postgres(self, ids: list[str], now: float) -> dict[str, dict[str, str]] | None:
        """The registered ids among `ids` with their labels; None when Postgres did not answer in time."""
        if not self._registry_store.available(now):
            return None
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                async with self._pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn:
                    cur = await conn.execute("SELECT device_id, labels FROM devices WHERE device_id = ANY(%s)",
                                             (ids,))
                    rows = await cur.fetchall()
        except _UNANSWERED as exc:
            self._registry_store.failed(now, exc)
            return None
        except psycopg.Error as exc:  # refused by a Postgres that answered: not an outage, no back-off
            self._registry_store.answered()
            self._query_refused(exc)
            return None
        self._registry_store.answered()
        self._query_error = None
        return {device_id: {str(k): str(v) for k, v in labels.items()} for device_id, labels in rows}

    def _query_refused(self, exc: psycopg.Error) -> None:
        error = type(exc).__name__
        if error != self._query_error:
            log.warning("device registry: Postgres refused the devices query (%s), its ids go out unenriched: %s",
                        error, str(exc)[:200])
        self._query_error = error

    async def _cache(self, ids: list[str], labels: dict[str, dict[str, str]], now: float) -> None:
        if not self._cache_store.available(now):
            return
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_S):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for device_id in ids:
                        value = json.dumps(labels[device_id]) if device_id in labels else _MISSING
                        pipe.set(self._key_prefix + device_id, value, ex=self._ttl_s)
                    await pipe.execute()
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            self._cache_store.failed(now, exc)

    async def enrich(self, samples: list[Sample]) -> None:
        """Add registered device labels to each sample in place; never raises for an unavailable registry."""
        keys = self.label_keys
        ids = {s["labels"][k] for s in samples for k in keys if k in s["labels"]}
        if not ids:
            return
        found = await self.lookup(ids)
        if found.stale or found.unavailable:
            self._count_degraded(samples, found)
        devices = found.labels
        if not devices:
            return
        enriched: dict[int, dict[str, str]] = {}  # one new dict per shared label set, still shared
        for sample in samples:
            labels = sample["labels"]
            done = enriched.get(id(labels))
            if done is None:
                done = enriched[id(labels)] = self._merge(labels, devices)
            sample["labels"] = done

    def _count_degraded(self, samples: list[Sample], found: Lookup) -> None:
        stale = skipped = 0
        for sample in samples:
            ids = [sample["labels"][k] for k in self.label_keys if k in sample["labels"]]
            if any(d in found.unavailable for d in ids):
                skipped += 1
            elif any(d in found.stale for d in ids):
                stale += 1
        if skipped:
            metrics.ENRICHMENT_SKIPPED.labels(found.reason).inc(skipped)
        if stale:
            metrics.ENRICHMENT_STALE.inc(stale)

    def _merge(self, labels: dict[str, str], devices: dict[str, dict[str, str]]) -> dict[str, str]:
        """The sample's own labels win over the registry's (the sender knows best)."""
        for key in self.label_keys:
            extra = devices.get(labels.get(key, ""))
            if extra:
                return {**extra, **labels}
        return labels
