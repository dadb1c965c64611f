"""`vigil api`: builds the analysts' API (alerts from Postgres, metrics from the TSDB) and serves it."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager, suppress

import httpx
import orjson
import redis.asyncio as aioredis
import uvicorn
from fastapi import Depends, FastAPI
from prometheus_client import make_asgi_app
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from api import errors, openapi
from api.auth import Authenticator, require
from api.incident_commands import IncidentCommands
from kernel.keys import KeyStore, Role
from api.live import LiveFeed
from api.metrics import RequestMetrics
from api.publisher import producer_overrides
from api.ratelimit import RateLimiter
from api.republish import republish
from api.routes import ROUTERS, board, health
from api.routes import alerting as alerting_routes
from api.routes import devices as device_routes
from api.routes import incidents as incident_routes
from api.routes import rules as rule_routes
from api.routes import silences as silence_routes
from api.rule_store import RuleStore
from api.silence_store import SilenceStore
from api.strict_params import strict_query
from kernel.kafka import broker_watch, make_producer
from kernel.settings import ApiSettings

log = logging.getLogger(__name__)
STATEMENT_TIMEOUT_MS = 10_000
GC_THRESHOLD = 10_000
SHUTDOWN_GRACE_S = 3  # then responses still open at SIGTERM are cancelled


async def _configure(conn) -> None:
    """Decode jsonb (alert labels, annotations, timelines) with orjson rather than the stdlib json psycopg uses."""
    set_json_loads(orjson.loads, conn)


async def _no_nul_bytes(request: HTTPConnection) -> None:
    """Postgres text can't hold NUL: refuse it in any parameter instead of failing the query."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise errors.BadParam("query", name.replace("\x00", "\\0")[:80], "contains a NUL byte")


def create_app(settings: ApiSettings) -> FastAPI:
    """The API's ASGI app; the Postgres pool and the TSDB client open in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = AsyncConnectionPool(
            settings.postgres_dsn.get_secret_value(), min_size=1, max_size=settings.api_db_pool_size, open=False,
            timeout=settings.api_db_timeout_s, check=AsyncConnectionPool.check_connection, configure=_configure,
            kwargs={"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}", "autocommit": True})
        await app.state.pool.open(wait=False)  # serve (and answer 503) even while Postgres is down
        app.state.tsdb = httpx.AsyncClient(base_url=settings.tsdb_url, timeout=settings.api_tsdb_timeout_s)
        app.state.redis = aioredis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=1,
                                                  socket_connect_timeout=1)
        app.state.keys = KeyStore(app.state.pool)
        app.state.auth = Authenticator(app.state.keys, RateLimiter(
            app.state.redis, settings.topic_prefix, settings.api_rate_per_s, settings.api_rate_burst))
        producer = make_producer(settings, **producer_overrides())
        app.state.rule_store = RuleStore(app.state.pool, producer, settings.topics)
        app.state.incident_commands = IncidentCommands(producer, settings.topics, settings.metrics_partitions)
        app.state.silence_store = SilenceStore(app.state.pool, producer, settings.topics)
        compacted = {"rules": (app.state.rule_store, settings.topics.rules),
                     "silences": (app.state.silence_store, settings.topics.silences)}
        refills = {asyncio.create_task(republish(settings, compacted))}
        loop = asyncio.get_running_loop()

        def refill() -> None:  # on the watch's thread, after the broker restarted empty
            loop.call_soon_threadsafe(lambda: refills.add(asyncio.create_task(republish(settings, compacted))))

        app.state.broker = broker_watch(settings)
        app.state.broker.on_reset(producer.renew)  # first: its idempotence state is void on the new broker
        app.state.broker.on_reset(refill)
        app.state.broker.start()
        app.state.live = LiveFeed(settings.kafka_bootstrap, settings.topics, settings.api_stream_queue,
                                  settings.api_stream_heartbeat_s)
        app.state.live.start(asyncio.get_running_loop())
        yield
        await asyncio.to_thread(app.state.live.stop)
        await asyncio.to_thread(app.state.broker.stop)  # a describe in progress may take its timeout
        for task in refills:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(producer.flush, 5)
        await app.state.tsdb.aclose()
        await app.state.redis.aclose()
        await app.state.pool.close()

    app = FastAPI(title="Vigil API", version="1", lifespan=lifespan,
                  dependencies=[Depends(_no_nul_bytes), Depends(strict_query)],
                  description="Alerts, incidents and their timelines (Postgres), metrics through Prometheus' query "
                              "API (VictoriaMetrics), rules, silences and devices as data, a live stream of changes "
                              "and the audit log. Every route but /healthz needs an API key (`vigil keys create`), "
                              "sent as `Authorization: Bearer <key>` or as basic auth's password.")
    errors.install(app)
    rule_routes.install(app)
    silence_routes.install(app)
    incident_routes.install(app)
    device_routes.install(app, settings)
    alerting_routes.install(app, settings)
    app.add_middleware(RequestMetrics)
    app.include_router(health.router)  # the one route without a key
    app.include_router(board.router)  # a static page holding no data: the browser sends the key to the API
    for router in ROUTERS:  # reading needs a viewer key at least; routes that write ask for more
        app.include_router(router, dependencies=[Depends(require(Role.VIEWER))])
    app.mount("/metrics", make_asgi_app())
    openapi.install(app)
    return app


class _Server(uvicorn.Server):
    """uvicorn lets open responses finish before it stops, and a live stream never finishes: end them first."""

    def handle_exit(self, sig, frame) -> None:
        live = getattr(self.config.app.state, "live", None)
        if live is not None:
            live.close_all()
        super().handle_exit(sig, frame)


def run(settings: ApiSettings) -> None:
    """Serve until SIGINT/SIGTERM."""
    app = create_app(settings)
    gc.freeze()  # startup objects leave the collector's scans: full collections were the API's latency tail
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    _Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_level="warning",
                           access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)).run()
