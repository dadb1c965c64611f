"""`vigil api`: builds the analysts' API (alerts from Postgres, metrics from the TSDB) and serves it."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Request
from prometheus_client import make_asgi_app
from psycopg_pool import AsyncConnectionPool

from api import errors
from api.metrics import RequestMetrics
from api.routes import ROUTERS
from api.routes import rules as rule_routes
from api.rule_store import RuleStore, producer_overrides
from infra.kafka import ensure_topics, make_producer
from infra.migrate import migrate
from infra.retry import Backoff
from infra.settings import ApiSettings

log = logging.getLogger(__name__)
STATEMENT_TIMEOUT_MS = 10_000


async def _republish_rules(settings: ApiSettings, store: RuleStore, backoff: Backoff = Backoff()) -> None:
    """Migrate, create the topics and republish every rule, retrying until Postgres and Kafka answer.

    The embedded broker keeps topics in memory: after a stack restart the rules topic is empty
    while Postgres still holds the rules, so the API puts them back whenever it starts.
    """
    attempt, last_error = 0, None
    while True:
        attempt += 1
        try:
            await asyncio.to_thread(migrate, settings.postgres_dsn.get_secret_value())
            await asyncio.to_thread(ensure_topics, settings)
            count = await store.publish_all()
        except Exception as exc:  # Kafka or Postgres not up yet: the API serves meanwhile, and retries
            if str(exc) != last_error:
                log.warning("republishing the rules failed (attempt %d), retrying: %s", attempt, exc)
                last_error = str(exc)
            await asyncio.sleep(backoff.delay(attempt))
            continue
        log.info("republished %d rules to %s", count, settings.topics.rules)
        return


async def _no_nul_bytes(request: Request) -> None:
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
            timeout=settings.api_db_timeout_s, check=AsyncConnectionPool.check_connection,
            kwargs={"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}", "autocommit": True})
        await app.state.pool.open(wait=False)  # serve (and answer 503) even while Postgres is down
        app.state.tsdb = httpx.AsyncClient(base_url=settings.tsdb_url, timeout=settings.api_tsdb_timeout_s)
        producer = make_producer(settings, **producer_overrides())
        app.state.rule_store = RuleStore(app.state.pool, producer, settings.topics)
        republish = asyncio.create_task(_republish_rules(settings, app.state.rule_store))
        yield
        republish.cancel()
        with suppress(asyncio.CancelledError):
            await republish
        await asyncio.to_thread(producer.flush, 5)
        await app.state.tsdb.aclose()
        await app.state.pool.close()

    app = FastAPI(title="Vigil API", version="1", lifespan=lifespan, dependencies=[Depends(_no_nul_bytes)],
                  description="Alerts (from Postgres) and metrics (from the time-series store) for analysts; "
                              "alert rules as data (Postgres, published to the rules topic).")
    errors.install(app)
    rule_routes.install(app)
    app.add_middleware(RequestMetrics)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/metrics", make_asgi_app())
    return app


def run(settings: ApiSettings) -> None:
    """Serve until SIGINT/SIGTERM."""
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level="warning", access_log=False)
