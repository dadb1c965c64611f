"""The adapter registry: adding a protocol is one folder and one line here.

HTTP protocols contribute a router on the ingest port; socket protocols (StatsD) a listener
that the ingest app starts and stops with itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from fastapi import APIRouter

from kernel.settings import IngestSettings
from ingest.admission import Admission
from ingest.influx import server as influx
from ingest.otlp import server as otlp
from ingest.pipeline import Pipeline
from ingest.remote_write import server as remote_write
from ingest.scrape.server import Scraper
from ingest.statsd.config import StatsdConfig
from ingest.statsd.server import StatsdServer

# Each HTTP adapter asks the process's Admission before reading a body (ingest/admission.py).
RouterFactory = Callable[[Pipeline, IngestSettings, Admission], APIRouter]

HTTP_ADAPTERS: dict[str, RouterFactory] = {
    "influx": lambda pipeline, s, admission: influx.router(pipeline, s.max_body_bytes, s.max_line_bytes, admission,
                                                           s.ingest_body_read_timeout_s),
    "remote_write": lambda pipeline, s, admission: remote_write.router(pipeline, s.max_body_bytes, admission,
                                                                       s.ingest_body_read_timeout_s),
    "otlp": lambda pipeline, s, admission: otlp.router(pipeline, s.max_body_bytes, admission,
                                                       s.ingest_body_read_timeout_s),
}


class Listener(Protocol):
    """A socket protocol's server: started after the pipeline is ready, stopped before it closes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _statsd(pipeline: Pipeline, s: IngestSettings) -> Listener | None:
    if s.statsd_port == 0:
        return None
    config = StatsdConfig(flush_interval_s=s.statsd_flush_interval_s, percentiles=s.statsd_percentiles)
    return StatsdServer(pipeline, config, s.statsd_host, s.statsd_port)


def _scrape(pipeline: Pipeline, s: IngestSettings) -> Listener | None:
    jobs = pipeline.sources.scrape_jobs
    return Scraper(pipeline, jobs) if jobs and s.scrape else None


LISTENERS: dict[str, Callable[[Pipeline, IngestSettings], Listener | None]] = {
    "statsd": _statsd,
    "scrape": _scrape,
}
