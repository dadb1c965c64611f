"""Building the shared pipeline (Kafka producer, device registry, limits) for a process that ingests.

`vigil ingest` and `vigil connectors` both publish through one Pipeline; this is where it is
assembled from settings and taken down again, publisher first so nothing queued is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from confluent_kafka import Producer
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from kernel.kafka import make_producer
from kernel.settings import IngestSettings
from kernel.broker_watch import BrokerWatch
from ingest.auth import AuthMode, policy_of
from ingest.cardinality import CardinalityLimiter
from ingest.enrich import DeviceRegistry
from ingest.pipeline import Pipeline
from ingest.publisher import Publisher
from ingest.sources import Sources
from ingest.validate import Limits

log = logging.getLogger(__name__)


@asynccontextmanager
async def pipeline_for(settings: IngestSettings, sources: Sources) -> AsyncIterator[Pipeline]:
    """A ready Pipeline for the duration of the block; on exit, queued Kafka messages are flushed."""
    _apply_auth_mode(settings, sources)
    producer = make_producer(settings, **{"linger.ms": settings.ingest_linger_ms})
    publisher = Publisher(producer, settings.topics, settings.metrics_partitions, settings.produce_timeout_s,
                          v1_topic=settings.metrics_v1_topic)
    pool = AsyncConnectionPool(settings.postgres_dsn.get_secret_value(), min_size=1, max_size=4, open=False)
    await pool.open()
    redis = aioredis.from_url(settings.redis_url.get_secret_value())
    try:
        registry = DeviceRegistry(pool, redis, settings.topic_prefix, settings.device_label_keys,
                                  settings.device_cache_ttl_s)
        limits = Limits(max_future_ms=settings.max_future_s * 1000, max_past_ms=settings.max_past_s * 1000)
        yield Pipeline(publisher, registry, limits, sources, CardinalityLimiter(redis, settings.topic_prefix))
    finally:
        unsent = await asyncio.to_thread(publisher.close)
        if unsent:
            log.error("%d Kafka messages unsent at shutdown", unsent)
        await redis.aclose()
        await pool.close()


def _apply_auth_mode(settings: IngestSettings, sources: Sources) -> None:
    """VIGIL_INGEST_AUTH onto the process's token policy, before the first write is served."""
    policy = policy_of(sources)
    policy.mode = AuthMode(settings.ingest_auth)
    if policy.mode is AuthMode.OPEN and (policy.tokens_in_use or sources.tokens_required):
        log.warning("VIGIL_INGEST_AUTH=open: writes without a token are accepted although ingest tokens exist")


async def kafka_health(producer: Producer, watch: BrokerWatch) -> JSONResponse:
    """/healthz of a publishing process: 200 while the broker answers and has every topic (the watch's last look)."""
    if not watch.status.healthy:  # gone, or restarted empty and not healed yet: writes answer 503 meanwhile
        return JSONResponse({"status": "unhealthy", "kafka": watch.status.describe()}, status_code=503)
    try:
        await asyncio.to_thread(producer.list_topics, timeout=2)
    except Exception as exc:  # any failure means "not healthy"; the message says which
        return JSONResponse({"status": "unhealthy", "kafka": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "kafka": "ok"})
