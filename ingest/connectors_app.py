"""`vigil connectors`: runs every configured connector and serves /healthz, /metrics and /status.

The connectors of the connectors file are built through the adapter registry (ingest/registry.py)
once the shared pipeline is ready (ingest/assembly.py), each run under supervision
(ingest/connectors/supervise.py), and stopped before the pipeline closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import make_asgi_app
from pydantic import BaseModel

from kernel.kafka import broker_watch, ensure_topics
from kernel.settings import ConnectorsSettings
from ingest.assembly import kafka_health, pipeline_for
from ingest.connectors.supervise import Supervised
from ingest.registry import Host, build, connector_configs, running
from ingest.sources import Sources

log = logging.getLogger(__name__)


def create_app(settings: ConnectorsSettings, configs: Sequence[BaseModel], sources: Sources) -> FastAPI:
    """The connectors process as an ASGI app: connectors start and stop with its lifespan."""
    configured = connector_configs(configs)
    state: dict = {"connectors": []}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with pipeline_for(settings, sources) as pipeline:
            connectors = build(configured, Host(pipeline))
            state["connectors"] = [c for c in connectors if isinstance(c, Supervised)]
            state["producer"] = pipeline.publisher.producer
            state["watch"] = watch = broker_watch(settings)
            watch.on_reset(pipeline.publisher.producer.renew)  # its idempotence state is void on the new broker
            watch.start()
            async with running(connectors):
                yield
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
        return JSONResponse({"devices": [s.as_dict() for c in state["connectors"] for s in c.statuses()]})

    return app


def run(settings: ConnectorsSettings, configs: Sequence[BaseModel], sources: Sources) -> None:
    """Serve until SIGINT/SIGTERM."""
    # pymodbus logs a warning for every failed connect while a device is down; the status and
    # vigil_device_up already say so, once.
    logging.getLogger("pymodbus").setLevel(logging.ERROR)
    try:
        ensure_topics(settings)
    except Exception as exc:  # Kafka down at start: run anyway; publishing retries per poll
        log.warning("could not create topics (Kafka unreachable?): %s", exc)
    uvicorn.run(create_app(settings, configs, sources), host=settings.ingest_host,
                port=settings.connectors_port, log_level="warning", access_log=False)
