"""Prometheus remote write 1.0 over HTTP: `POST /api/v1/write`, answered the way Prometheus expects.

https://prometheus.io/docs/specs/remote_write_spec/#retries-backoff — 204 when every series was
written; 400 (not retried) naming each refused series when some were not, the good ones being
written; 413 for an oversized body; 415 for a content type or encoding other than snappy
protobuf (a 2.0 sender then falls back to 1.0); 503 with Retry-After when Kafka can't take the
data. Backpressure is 503 rather than 429 because Prometheus before 3.0 only retries 429 when
`retry_on_http_429` is set, and would otherwise drop the batch.
"""

from __future__ import annotations

import asyncio
import dataclasses

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from infra.retry import RetryableError
from ingest import metrics
from ingest.body import BodyError, read_raw_body
from ingest.pipeline import Pipeline, Problem
from ingest.remote_write.config import CONTENT_TYPE, PROTO_V1, PROTO_V2
from ingest.remote_write.parse import LabelSets, PayloadError, decompress, parse

PROTOCOL = "remote_write"
MAX_LISTED_PROBLEMS = 100
OFFLOAD_BYTES = 256 * 1024  # decode bigger bodies on a thread so the event loop keeps answering


def router(pipeline: Pipeline, max_body_bytes: int) -> APIRouter:
    """Routes: POST /api/v1/write."""
    routes = APIRouter(tags=["prometheus"])
    # ±Inf are real Prometheus values (a gauge can be +Inf) and VictoriaMetrics stores them.
    limits = dataclasses.replace(pipeline.limits, allow_infinite=True)
    label_sets = LabelSets()

    @routes.post("/api/v1/write", status_code=204, summary="Prometheus remote write 1.0")
    async def write(request: Request) -> Response:
        """Take a snappy-compressed prometheus.WriteRequest; 2xx only once Kafka has it."""
        return await metrics.timed(PROTOCOL, _write(request))

    async def _write(request: Request) -> Response:
        refused = _unsupported(request.headers.get("content-type", ""), request.headers.get("content-encoding", ""))
        if refused:
            return _error(415, refused)
        try:
            body = await read_raw_body(request, max_body_bytes)
            if len(body) > OFFLOAD_BYTES:
                result = await asyncio.to_thread(_decode, body, max_body_bytes, label_sets)
            else:
                result = _decode(body, max_body_bytes, label_sets)
        except BodyError as exc:
            return _error(exc.status, exc.message)
        except PayloadError as exc:
            return _error(exc.status, str(exc))
        for reason, count in result.skipped.items():
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, reason).inc(count)
        units = result.series  # each ParsedSeries is a pipeline Unit
        problems = [Problem(e.location, e.reason, e.raw) for e in result.errors]
        source = request.client.host if request.client else "unknown"
        try:
            outcome = await pipeline.accept(PROTOCOL, source, units, problems, limits=limits,
                                            agent=request.state.agent)
        except RetryableError as exc:
            metrics.PUBLISH_FAILURES.labels(PROTOCOL, type(exc).__name__).inc()
            return _error(503, f"{exc}; nothing of this request was written, retry it",
                          retry_after=exc.retry_after or 1)
        if not outcome.problems:
            return Response(status_code=204)
        listed = "; ".join(f"{p.location}: {p.reason}" for p in outcome.problems[:MAX_LISTED_PROBLEMS])
        more = len(outcome.problems) - MAX_LISTED_PROBLEMS
        return _error(400, f"{len(outcome.problems)} series rejected, {outcome.accepted} sample(s) written: "
                           f"{listed}{f'; and {more} more' if more > 0 else ''}")

    return routes


def _decode(body: bytes, max_body_bytes: int, label_sets: LabelSets):
    return parse(decompress(body, max_body_bytes), label_sets)


def _unsupported(content_type: str, encoding: str) -> str | None:
    """Why the request's headers rule it out, or None. Missing headers are taken as the spec's."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media and media != CONTENT_TYPE:
        return f"Content-Type '{content_type[:100]}' is not supported; send {CONTENT_TYPE} (remote write 1.0)"
    proto = dict(p.strip().partition("=")[::2] for p in params.split(";") if "=" in p).get("proto", PROTO_V1)
    if proto != PROTO_V1:
        extra = " (remote write 2.0 is not supported yet)" if proto == PROTO_V2 else ""
        return f"proto={proto[:100]} is not supported{extra}; send {PROTO_V1}"
    if encoding.strip().lower() not in ("", "snappy"):
        return f"Content-Encoding '{encoding[:100]}' is not supported; remote write bodies are snappy-compressed"
    return None


def _error(status: int, message: str, retry_after: float | None = None) -> PlainTextResponse:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return PlainTextResponse(message + "\n", status_code=status, headers=headers)
