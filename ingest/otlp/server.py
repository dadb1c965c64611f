"""OTLP/HTTP metrics: `POST /v1/metrics`, protobuf or JSON, answered as the OTLP spec says.

https://opentelemetry.io/docs/specs/otlp/#otlphttp-response — 200 with an
ExportMetricsServiceResponse (in the request's encoding); when some points were refused its
`partialSuccess` carries how many and why, and the good points *are* written. 400 with a
google.rpc.Status for a body that can't be decoded, 413 for an oversized one, 415 for another
content type; 429/503 with Retry-After when Kafka can't take the data (OTLP exporters retry those).
When Vigil is saturated (ingest/admission.py) the answer is 503 + Retry-After before the body is read:
https://opentelemetry.io/docs/specs/otlp/#otlphttp-throttling — "the server is overloaded" → 429 or
503; 503 says it is the server's state, not this client's rate (429 is for a client over its quota).
"""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from kernel.retry import RetryableError
from ingest import metrics
from ingest.admission import Admission
from ingest.body import BODY_READ_TIMEOUT_S, BodyError, read_body
from ingest.otlp.config import JSON, PROTOBUF
from ingest.otlp.cumulative import DeltaToCumulative
from ingest.otlp.parse import PayloadError, decode, parse
from ingest.otlp.translate import AttributeSets
from ingest.pipeline import Pipeline, Problem

PROTOCOL = "otlp"
MAX_LISTED_PROBLEMS = 20
OFFLOAD_BYTES = 256 * 1024  # decode bigger bodies on a thread so the event loop keeps answering
# google.rpc.Code values: https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
_RPC_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14}


def router(pipeline: Pipeline, max_body_bytes: int, admission: Admission,
           body_timeout_s: float = BODY_READ_TIMEOUT_S) -> APIRouter:
    """Routes: POST /v1/metrics."""
    routes = APIRouter(tags=["opentelemetry"])
    deltas = DeltaToCumulative()
    attribute_sets = AttributeSets()

    @routes.post("/v1/metrics", summary="OTLP/HTTP metrics export")
    async def export(request: Request) -> Response:
        """Take an ExportMetricsServiceRequest (protobuf or JSON); 2xx only once Kafka has it."""
        return await metrics.timed(PROTOCOL, _export(request))

    async def _export(request: Request) -> Response:
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        is_json = media == JSON
        if media not in (PROTOBUF, JSON):
            return _status(415, f"Content-Type '{media[:100]}' is not supported; send {PROTOBUF} or {JSON}", is_json)
        with admission.slot(PROTOCOL) as shed:
            if shed is not None:
                return _status(503, shed.message, is_json, retry_after=shed.retry_after_s)
            return await _admitted(request, is_json)

    async def _admitted(request: Request, is_json: bool) -> Response:
        now_ms = int(time.time() * 1000)
        try:
            body = await read_body(request, max_body_bytes, body_timeout_s)
            if len(body) > OFFLOAD_BYTES:
                result = await asyncio.to_thread(lambda: parse(decode(body, is_json), now_ms, attribute_sets))
            else:
                result = parse(decode(body, is_json), now_ms, attribute_sets)
        except BodyError as exc:
            return _status(exc.status, exc.message, is_json)
        except PayloadError as exc:
            return _status(400, str(exc), is_json)
        for reason, count in result.skipped.items():
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, reason).inc(count)
        units = result.points  # each ParsedPoint is a pipeline Unit
        problems = [Problem(e.location, e.reason) for e in result.errors]
        source = request.client.host if request.client else "unknown"
        applied = [change for point in result.points if point.delta for change in deltas.apply(point.samples)]
        try:
            outcome = await pipeline.accept(PROTOCOL, source, units, problems, now_ms=now_ms,
                                            agent=request.state.agent)
        except RetryableError as exc:
            deltas.revert(applied)
            kind = type(exc).__name__
            metrics.PUBLISH_FAILURES.labels(PROTOCOL, kind).inc()
            status = 429 if kind == "Backpressure" else 503
            return _status(status, f"{exc}; nothing of this request was written, retry it", is_json,
                           retry_after=exc.retry_after or 1)
        answer = ExportMetricsServiceResponse()
        if outcome.problems:
            refused = {e.location: e.points for e in result.errors}
            answer.partial_success.rejected_data_points = sum(refused.get(p.location, 1) for p in outcome.problems)
            listed = "; ".join(f"{p.location}: {p.reason}" for p in outcome.problems[:MAX_LISTED_PROBLEMS])
            more = len(outcome.problems) - MAX_LISTED_PROBLEMS
            answer.partial_success.error_message = listed + (f"; and {more} more" if more > 0 else "")
        return _message(200, answer, is_json)

    return routes


def _message(status: int, message, is_json: bool, headers: dict | None = None) -> Response:
    if is_json:
        return Response(json_format.MessageToJson(message, indent=None), status_code=status, media_type=JSON,
                        headers=headers)
    return Response(message.SerializeToString(), status_code=status, media_type=PROTOBUF, headers=headers)


def _status(status: int, text: str, is_json: bool, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return _message(status, Status(code=_RPC_CODES.get(status, 3), message=text), is_json, headers)
