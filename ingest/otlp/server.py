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

import time

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from ingest.admission import Admission
from ingest.body import BodyError
from ingest.http_adapter import Decoded, Exchange, HttpAdapter
from ingest.otlp.config import JSON, PROTOBUF, OtlpConfig
from ingest.otlp.cumulative import DeltaToCumulative
from ingest.otlp.parse import PayloadError, decode, parse
from ingest.otlp.translate import AttributeSets
from ingest.pipeline import Outcome, Pipeline, Problem

PROTOCOL = "otlp"
MAX_LISTED_PROBLEMS = 20
# google.rpc.Code values: https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto
_RPC_CODES = {400: 3, 413: 3, 415: 3, 429: 8, 503: 14}


def router(pipeline: Pipeline, admission: Admission, config: OtlpConfig) -> APIRouter:
    """Routes: POST /v1/metrics."""
    routes = APIRouter(tags=["opentelemetry"])
    adapter = HttpAdapter(PROTOCOL, pipeline, admission, config)
    deltas = DeltaToCumulative()
    attribute_sets = AttributeSets()

    @routes.post("/v1/metrics", summary="OTLP/HTTP metrics export")
    async def export(request: Request) -> Response:
        """Take an ExportMetricsServiceRequest (protobuf or JSON); 2xx only once Kafka has it."""
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        is_json = media == JSON
        if media not in (PROTOBUF, JSON):
            refused = _status(415, f"Content-Type '{media[:100]}' is not supported; send {PROTOBUF} or {JSON}", is_json)
            return await adapter.handle(request, refused)
        return await adapter.handle(request, _Exchange(is_json, deltas, attribute_sets))

    return routes


class _Exchange(Exchange):
    """One export, protobuf or JSON (answered in the request's encoding)."""

    def __init__(self, is_json: bool, deltas: DeltaToCumulative, attribute_sets: AttributeSets) -> None:
        self._is_json, self._deltas, self._attribute_sets = is_json, deltas, attribute_sets
        self._applied: list = []

    def decode(self, body: bytes) -> Decoded:
        now_ms = int(time.time() * 1000)
        try:
            result = parse(decode(body, self._is_json), now_ms, self._attribute_sets)
        except PayloadError as exc:
            raise BodyError(400, str(exc)) from None
        problems = [Problem(e.location, e.reason) for e in result.errors]
        # each ParsedPoint is a pipeline Unit
        return Decoded(result.points, problems, result.skipped, now_ms=now_ms, detail=result)

    def prepare(self, decoded: Decoded) -> None:
        """Delta points become cumulative (state shared by every export); undone if Kafka does not take them."""
        points = decoded.detail.points
        self._applied = [change for point in points if point.delta for change in self._deltas.apply(point.samples)]

    def error(self, status: int, message: str, retry_after: float | None = None) -> Response:
        return _status(status, message, self._is_json, retry_after)

    def written(self, outcome: Outcome, decoded: Decoded) -> Response:
        answer = ExportMetricsServiceResponse()
        if outcome.problems:
            refused = {e.location: e.points for e in decoded.detail.errors}
            answer.partial_success.rejected_data_points = sum(refused.get(p.location, 1) for p in outcome.problems)
            listed = "; ".join(f"{p.location}: {p.reason}" for p in outcome.problems[:MAX_LISTED_PROBLEMS])
            more = len(outcome.problems) - MAX_LISTED_PROBLEMS
            answer.partial_success.error_message = listed + (f"; and {more} more" if more > 0 else "")
        return _message(200, answer, self._is_json)

    def not_published(self, decoded: Decoded) -> None:
        self._deltas.revert(self._applied)


def _message(status: int, message, is_json: bool, headers: dict | None = None) -> Response:
    if is_json:
        return Response(json_format.MessageToJson(message, indent=None), status_code=status, media_type=JSON,
                        headers=headers)
    return Response(message.SerializeToString(), status_code=status, media_type=PROTOBUF, headers=headers)


def _status(status: int, text: str, is_json: bool, retry_after: float | None = None) -> Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return _message(status, Status(code=_RPC_CODES.get(status, 3), message=text), is_json, headers)
