"""Prometheus remote write 1.0 and 2.0 over HTTP: `POST /api/v1/write`, answered the way Prometheus expects.

https://prometheus.io/docs/specs/remote_write_spec/#retries-backoff — 204 when every series was
written; 400 (not retried) naming each refused series when some were not, the good ones being
written; 413 for an oversized body; 415 for a content type, proto or encoding other than snappy
protobuf of 1.0 or 2.0; 503 with Retry-After when Kafka can't take the data, and when Vigil is
saturated (ingest/admission.py: answered before the body is read). Backpressure is 503 rather than
429 because Prometheus retries every 5xx with backoff (honouring Retry-After) but retries 429 only
when `retry_on_http_429` is set (before 3.0), and would otherwise drop the batch.

The message is chosen by Content-Type (https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/#content-type):
`proto=io.prometheus.write.v2.Request` is 2.0; no `proto` or `proto=prometheus.WriteRequest` is 1.0.
Every 2.0 answer but a 415 carries the X-Prometheus-Remote-Write-*-Written headers. Samples written
counts what reached Kafka plus samples taken and dropped on purpose (staleness markers, NaN,
relabel drops): a sender reads "0 written" on a 2xx as a receiver that didn't understand it.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from ingest.admission import Admission
from ingest.body import BodyError
from ingest.http_adapter import Decoded, Exchange, HttpAdapter
from ingest.pipeline import Outcome, Pipeline, Problem
from ingest.remote_write import parse_v2
from ingest.remote_write.config import (CONTENT_TYPE, EXEMPLARS_WRITTEN, HISTOGRAMS_WRITTEN, PROTO_V1, PROTO_V2,
                                        SAMPLES_WRITTEN, RemoteWriteConfig)
from ingest.remote_write.parse import LabelSets, ParseResult, PayloadError, decompress, parse
from ingest.validate import Limits

PROTOCOL = "remote_write"
MAX_LISTED_PROBLEMS = 100


def router(pipeline: Pipeline, admission: Admission, config: RemoteWriteConfig) -> APIRouter:
    """Routes: POST /api/v1/write."""
    routes = APIRouter(tags=["prometheus"])
    # Prometheus retries every 5xx but 429 only when told to (module docstring): backpressure is 503.
    adapter = HttpAdapter(PROTOCOL, pipeline, admission, config, backpressure=lambda exc: 503)
    # ±Inf are real Prometheus values (a gauge can be +Inf) and VictoriaMetrics stores them.
    limits = dataclasses.replace(pipeline.limits, allow_infinite=True)
    decoders = {PROTO_V1: (parse, LabelSets()), PROTO_V2: (parse_v2.parse, parse_v2.symbol_label_sets())}

    @routes.post("/api/v1/write", status_code=204, summary="Prometheus remote write 1.0 and 2.0")
    async def write(request: Request) -> Response:
        """Take a snappy prometheus.WriteRequest or io.prometheus.write.v2.Request; 2xx only once Kafka has it."""
        proto, refused = negotiate(request.headers.get("content-type", ""),
                                   request.headers.get("content-encoding", ""))
        if refused:
            return await adapter.handle(request, _error(415, refused))
        return await adapter.handle(request, _Exchange(proto, *decoders[proto], config.max_body_bytes, limits))

    return routes


class _Exchange(Exchange):
    """One write of remote write `proto`: every 2.0 answer carries the X-Prometheus-Remote-Write-*-Written headers."""

    raw_body = True  # snappy, not a Content-Encoding to undo

    def __init__(self, proto: str, decode, label_sets: LabelSets, max_body_bytes: int, limits: Limits) -> None:
        self._decode, self._label_sets = decode, label_sets
        self._max_body_bytes, self._limits = max_body_bytes, limits
        self._written = ({SAMPLES_WRITTEN: "0", HISTOGRAMS_WRITTEN: "0", EXEMPLARS_WRITTEN: "0"}
                         if proto == PROTO_V2 else {})

    def decode(self, body: bytes) -> Decoded:
        try:
            result = self._decode(decompress(body, self._max_body_bytes), self._label_sets)
        except PayloadError as exc:
            raise BodyError(exc.status, str(exc)) from None
        problems = [Problem(e.location, e.reason, e.raw) for e in result.errors]
        # each ParsedSeries is a pipeline Unit
        return Decoded(result.series, problems, result.skipped, limits=self._limits, detail=result)

    def error(self, status: int, message: str, retry_after: float | None = None) -> Response:
        return _error(status, message, retry_after, self._written)

    def written(self, outcome: Outcome, decoded: Decoded) -> Response:
        written = self._written
        if written:
            written[SAMPLES_WRITTEN] = str(samples_written(decoded.detail, {p.location for p in outcome.problems}))
        if not outcome.problems:
            return Response(status_code=204, headers=written)
        listed = "; ".join(f"{p.location}: {p.reason}" for p in outcome.problems[:MAX_LISTED_PROBLEMS])
        more = len(outcome.problems) - MAX_LISTED_PROBLEMS
        return _error(400, f"{len(outcome.problems)} series rejected, {outcome.accepted} sample(s) written: "
                           f"{listed}{f'; and {more} more' if more > 0 else ''}", headers=written)



def samples_written(result: ParseResult, refused: set[str]) -> int:
    """Samples of the series not refused, plus those skipped on purpose (taken, not stored)."""
    kept = [series for series in result.series if series.location not in refused] if refused else result.series
    return sum(result.skipped.values()) + sum(len(series.samples) for series in kept)


def negotiate(content_type: str, encoding: str) -> tuple[str, str | None]:
    """(proto the body holds, why the headers rule it out or None). Missing headers are taken as 1.0's."""
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    if media and media != CONTENT_TYPE:
        return PROTO_V1, (f"Content-Type '{content_type[:100]}' is not supported; send {CONTENT_TYPE} "
                          f"(remote write 1.0) or {CONTENT_TYPE};proto={PROTO_V2}")
    found = dict(p.strip().partition("=")[::2] for p in params.split(";") if "=" in p)
    proto = found.get("proto", PROTO_V1).strip().strip('"')
    if proto not in (PROTO_V1, PROTO_V2):
        return PROTO_V1, f"proto={proto[:100]} is not supported; send {PROTO_V1} or {PROTO_V2}"
    if encoding.strip().lower() not in ("", "snappy"):
        return proto, (f"Content-Encoding '{encoding[:100]}' is not supported; "
                       "remote write bodies are snappy-compressed")
    return proto, None


def _error(status: int, message: str, retry_after: float | None = None,
           headers: dict[str, str] | None = None) -> PlainTextResponse:
    headers = dict(headers or {})
    if retry_after:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return PlainTextResponse(message + "\n", status_code=status, headers=headers or None)
