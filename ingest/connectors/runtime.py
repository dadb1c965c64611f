"""`vigil connectors`: runs every configured connector and serves /healthz, /metrics and /status.

Each connector runs as a task publishing through the shared pipeline (ingest/assembly.py) under
its type as the protocol (`mqtt`, `modbus`, …) and each device as the source. A connector that
crashes (it should not: they handle their peers' failures themselves) is logged and restarted
after a pause, so one broken device never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app

from kernel.kafka import broker_watch, ensure_topics
from kernel.retry import Backoff
from kernel.settings import ConnectorsSettings
from ingest.assembly import kafka_health, pipeline_for
from ingest.connectors.base import Connector
from ingest.pipeline import Pipeline, Problem, Unit
from ingest.sources import Sources
from schemas.records import Sample

log = logging.getLogger(__name__)


def publisher_for(pipeline: Pipeline, protocol: str):
    """The `publish` a connector of type `protocol` gets: one unit per sample, the device as source."""

    async def publish(device: str, samples: list[Sample], problems: list[Problem]) -> int:
        units = [Unit(f"{device} {sample['name']}", [sample]) for sample in samples]
        outcome = await pipeline.accept(protocol, device, units, problems)
        return outcome.accepted
    return publish


async def supervise(connector: Connector, protocol: str, pipeline: Pipeline) -> None:
    """Run a connector forever, restarting it after a pause if it ever raises."""
    backoff = Backoff(initial_s=1.0, max_s=60.0)
    attempt = 0
    while True:
        try:
            await connector.run(publisher_for(pipeline, protocol))
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            attempt += 1
            log.exception("connector %s crashed; restarting it (attempt %d)", connector.name, attempt)
            await asyncio.sleep(backoff.delay(attempt))


def create_app(settings: ConnectorsSettings, connectors: list[tuple[str, Connector]], sources: Sources) -> FastAPI:
    """The connectors process as an ASGI app: connectors start and stop with its lifespan."""
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with pipeline_for(settings, sources) as pipeline:
            tasks = [asyncio.create_task(supervise(c, kind, pipeline), name=f"connector {c.name}")
                     for kind, c in connectors]
            state["producer"] = pipeline.publisher.producer
            state["watch"] = watch = broker_watch(settings)
            watch.on_reset(pipeline.publisher.producer.renew)  # its idempotence state is void on the new broker
            watch.start()
            yield
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(watch.stop)  # a describe in progress may take its timeout

    app = FastAPI(title="Vigil connectors", lifespan=lifespan)
    app.mount("/metrics", make_asgi_app())

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 while Kafka answers with every topic (devices being down is normal operation, shown in /status)."""
        return await kafka_health(state["producer"], state["watch"])

    @app.get("/status")
    async def status() -> JSONResponse:
        """Every device of every connector: up, last seen, last error, samples/s."""
        return JSONResponse({"devices": [s.as_dict() for _, c in connectors for s in c.statuses()]})

    return app


def run(settings: ConnectorsSettings, connectors: list[tuple[str, Connector]], sources: Sources) -> None:
    """Serve until SIGINT/SIGTERM."""
    # pymodbus logs a warning for every failed connect while a device is down; the status and
    # vigil_device_up already say so, once.
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    try:
        ensure_topics(settings)
    except Exception as exc:  # Kafka down at start: run anyway; publishing retries per poll
        log.warning("could not create topics (Kafka unreachable?): %s", exc)
    uvicorn.run(create_app(settings, connectors, sources), host=settings.ingest_host,
                port=settings.connectors_port, log_level="warning", access_log=False)
