"""The adapter registry: adding an HTTP protocol is one folder and one line here."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from infra.settings import IngestSettings
from ingest.influx import server as influx
from ingest.otlp import server as otlp
from ingest.pipeline import Pipeline
from ingest.remote_write import server as remote_write

RouterFactory = Callable[[Pipeline, IngestSettings], APIRouter]

HTTP_ADAPTERS: dict[str, RouterFactory] = {
    "influx": lambda pipeline, s: influx.router(pipeline, s.max_body_bytes, s.max_line_bytes),
    "remote_write": lambda pipeline, s: remote_write.router(pipeline, s.max_body_bytes),
    "otlp": lambda pipeline, s: otlp.router(pipeline, s.max_body_bytes),
}
