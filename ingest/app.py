"""`vigil ingest`: builds the ingest app (every HTTP protocol on one port) and serves it."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
from contextlib import asynccontextmanager, suppress

import uvicorn
from fastapi import FastAPI
from confluent_kafka.admin import AdminClient
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app, multiprocess

from kernel.kafka import broker_watch, ensure_topics
from kernel.migrate import migrate
from kernel.settings import IngestSettings
from ingest import metrics
from ingest.admission import Admission
from ingest.assembly import kafka_health, pipeline_for
from ingest.evaluation_lag import GroupWatcher
from ingest.header_deadline import with_header_timeout
from ingest.pipeline import Pipeline
from ingest.auth import AgentTokens
from ingest.registry import Host, build, ingest_configs, of_kind, running
from ingest.scrape.server import Scraper
from ingest import stored_tokens
from ingest.sources import ConfigError, Sources, load

log = logging.getLogger(__name__)
GC_THRESHOLD = 10_000


def create_app(settings: IngestSettings, sources: Sources) -> FastAPI:
    """The ingest ASGI app; clients (Kafka, Redis, Postgres) open in its lifespan."""
    state: dict = {}
    admission = Admission(settings.ingest_max_in_flight, settings.ingest_max_evaluation_lag_s)
    configured = ingest_configs(settings, sources)  # an invalid adapter config stops ingest here, at start

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with pipeline_for(settings, sources) as pipeline:
            adapters = build(configured, Host(pipeline, app, admission))
            state["scrapers"] = [adapter for adapter in adapters if isinstance(adapter, Scraper)]
            # Listeners stop (flushing what they aggregated) while the publisher still runs.
            async with running(adapters):
                background = [asyncio.create_task(stored_tokens.refresh_forever(
                    sources, settings.postgres_dsn.get_secret_value()))]
                if settings.ingest_max_evaluation_lag_s:
                    background.append(asyncio.create_task(
                        _evaluation_lag_watcher(settings, pipeline, admission).run()))
                state["publisher"] = pipeline.publisher
                state["watch"] = watch = broker_watch(settings)
                watch.on_reset(pipeline.publisher.producer.renew)  # its idempotence state is void on the new broker
                # Offsets start again at 0 on the new topic: old marks would read as never evaluated (503 for good).
                watch.on_reset(pipeline.publisher.accepted_offsets.forget)
                watch.start()
                yield
                for task in background:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task
            await asyncio.to_thread(watch.stop)  # a describe in progress may take its timeout

    protocols = ", ".join(adapter.name for adapter in of_kind("http", "listener"))
    app = FastAPI(title="Vigil ingest", lifespan=lifespan, description=f"Metrics into Kafka: {protocols}.")
    app.mount("/metrics", make_asgi_app(_registry()))
    app.add_middleware(AgentTokens, sources=sources)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """200 while the Kafka broker answers metadata requests; `admission` says whether writes are shed and why.

        Shedding load is not unhealthy: a probe that took this process out of rotation would move its
        senders to peers that share the same streams worker, and so the same lag.
        """
        answer = await kafka_health(state["publisher"].producer, state["watch"])
        return JSONResponse({**json.loads(answer.body), "admission": admission.describe()},
                            status_code=answer.status_code)

    @app.get("/api/v1/targets", tags=["scrape"])
    async def targets() -> JSONResponse:
        """Scrape targets and their health, shaped like Prometheus' `/api/v1/targets`."""
        active = [{"labels": status.labels, "scrapePool": status.job, "scrapeUrl": status.address,
                   "health": status.health, "lastError": status.last_error,
                   "lastScrape": status.last_scrape_ms / 1000, "lastScrapeDuration": status.last_duration_s,
                   "samples": status.samples}
                  for scraper in state.get("scrapers", []) for status in scraper.status.values()]
        return JSONResponse({"status": "success", "data": {"activeTargets": active}})

    return app


def _evaluation_lag_watcher(settings: IngestSettings, pipeline: Pipeline, admission: Admission) -> GroupWatcher:
    """Reads the streams group's offsets against what this process published; feeds the admission bound."""
    def on_lag(lag_s: float | None) -> None:
        admission.set_evaluation_lag(lag_s)
        metrics.EVALUATION_LAG.set(-1 if lag_s is None else lag_s)

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    return GroupWatcher(admin, settings.streams_group, settings.topics.metrics, pipeline.publisher.accepted_offsets,
                        on_lag, settings.ingest_lag_poll_s, stall_s=settings.ingest_evaluation_stall_s)


def _registry() -> CollectorRegistry:
    """The default registry, or, in one of several ingest processes, every process's metrics summed."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # prometheus_client's own switch, set by the supervisor
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def run(settings: IngestSettings) -> None:
    """Read the sources file, prepare topics and tables, then serve until SIGINT/SIGTERM."""
    try:
        sources = Sources(load(settings.ingest_config))
    except ConfigError as exc:  # a bad file stops ingest at start, naming the key at fault
        raise SystemExit(f"vigil ingest: invalid VIGIL_INGEST_CONFIG {exc}") from None
    migrate(settings.postgres_dsn.get_secret_value())
    log.info("%d ingest tokens stored in Postgres", stored_tokens.load(sources, settings.postgres_dsn.get_secret_value()))
    try:
        ensure_topics(settings)
    except Exception as exc:  # Kafka down at start: serve anyway and answer 503 until it is back
        log.warning("could not create topics (Kafka unreachable?): %s", exc)
    app = create_app(settings, sources)
    config = uvicorn.Config(app, host=settings.ingest_host, port=settings.ingest_port, log_level="warning",
                            access_log=False, http=with_header_timeout(settings.ingest_header_timeout_s))
    # Ingest allocates a few containers per sample: the collector's default (a young-generation pass
    # every 700 allocations, scanning startup objects too) cost 10–25 % of remote write / OTLP
    # throughput (bench/remote_write.py, bench/otlp.py). Startup objects leave its scans; passes come rarer.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    if settings.ingest_reuse_port:  # one of several ingest processes on this port: the kernel spreads connections
        uvicorn.Server(config).run(sockets=[_reuse_port_socket(settings.ingest_host, settings.ingest_port)])
    else:
        uvicorn.Server(config).run()


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
