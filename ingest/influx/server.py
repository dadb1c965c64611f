"""Influx line protocol over HTTP, answered the way InfluxDB answers it (v1 `/write`, v2 `/api/v2/write`).

https://docs.influxdata.com/influxdb/v2/api/#operation/PostWrite and
https://docs.influxdata.com/influxdb/v1/tools/api/#write-http-endpoint: 204 when every line was
written; 400 with a JSON message naming each bad line when some were not (the good ones are
written: partial acceptance); 413 for an oversized body; 429/503 with Retry-After when Kafka
can't take the data, so clients retry. When Vigil is saturated (ingest/admission.py) the answer is
503 + Retry-After before the body is read: InfluxDB's own "server is temporarily unavailable to
accept writes" (its 429 means an account over its quota); influxdb-client and Telegraf retry both.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingest import metrics
from ingest.admission import Admission
from ingest.body import BodyError
from ingest.http_adapter import Decoded, Exchange, HttpAdapter
from ingest.influx.config import InfluxConfig
from ingest.influx.parse import ParseResult, parse
from ingest.pipeline import Outcome, Pipeline, Problem, Unit

PROTOCOL = "influx"
MAX_LISTED_PROBLEMS = 100  # bad lines named one by one (answer and dead-letter topic); the rest are counted


def router(pipeline: Pipeline, admission: Admission, config: InfluxConfig) -> APIRouter:
    """Routes: POST /write (v1), POST /api/v2/write (v2), GET|HEAD /ping."""
    routes = APIRouter(tags=["influx"])
    adapter = HttpAdapter(PROTOCOL, pipeline, admission, config)

    @routes.post("/write", status_code=204, summary="InfluxDB 1.x write")
    async def write_v1(request: Request, db: str = "", precision: str = "ns") -> Response:
        """Write line protocol the way InfluxDB 1.x does (`db`, `rp` are accepted and ignored)."""
        return await adapter.handle(request, _Exchange(precision, config.max_line_bytes, v2=False))

    @routes.post("/api/v2/write", status_code=204, summary="InfluxDB 2.x write")
    async def write_v2(request: Request, bucket: str = "", org: str = "", precision: str = "ns") -> Response:
        """Write line protocol the way InfluxDB 2.x does (`bucket`, `org` are accepted and ignored)."""
        return await adapter.handle(request, _Exchange(precision, config.max_line_bytes, v2=True))

    @routes.api_route("/ping", methods=["GET", "HEAD"], status_code=204, summary="InfluxDB ping")
    async def ping() -> Response:
        """Answer clients that check the server is an InfluxDB before writing."""
        return Response(status_code=204, headers={"X-Influxdb-Version": "vigil"})

    return routes


class _Exchange(Exchange):
    """One write, v1 or v2: they differ only in the shape of their JSON answers."""

    def __init__(self, precision: str, max_line_bytes: int, v2: bool) -> None:
        self._precision, self._max_line_bytes, self._v2 = precision, max_line_bytes, v2

    def decode(self, body: bytes) -> Decoded:
        if not body.strip():
            raise BodyError(400, "empty body: no line protocol to write")
        now_ns = time.time_ns()
        try:
            result = parse(body, self._precision, now_ns, self._max_line_bytes, MAX_LISTED_PROBLEMS)
        except ValueError as exc:  # unknown precision
            raise BodyError(400, str(exc)) from None
        if result.skipped_string_fields:
            metrics.FIELDS_SKIPPED.labels(PROTOCOL).inc(result.skipped_string_fields)
        units = [Unit(f"line {line.number}", line.samples) for line in result.lines]
        return Decoded(units, _parse_problems(result), now_ms=now_ns // 1_000_000, detail=result)

    def error(self, status: int, message: str, retry_after: float | None = None) -> Response:
        return _error(status, message, self._v2, retry_after)

    def written(self, outcome: Outcome, decoded: Decoded) -> Response:
        result: ParseResult = decoded.detail
        unlisted = result.error_count - len(result.errors)
        if unlisted > 1:  # the pipeline counted their summary problem as one
            metrics.LINES_REJECTED.labels(PROTOCOL, "invalid").inc(unlisted - 1)
        if not outcome.problems:
            return Response(status_code=204)
        return _partial(outcome.accepted, outcome.problems, self._v2, unlisted)



def _parse_problems(result: ParseResult) -> list[Problem]:
    """The bad lines the parser kept, then one problem standing for all the others: the answer and
    the dead-letter topic stay bounded (the caller counts every line of the summary in the metric)."""
    problems = [Problem(f"line {e.number}", e.reason, e.raw) for e in result.errors]
    unlisted = result.error_count - len(result.errors)
    if unlisted:
        first, last = result.errors[-1].number + 1, result.last_error_line
        problems.append(Problem(f"line {last}" if unlisted == 1 else f"lines {first}-{last}",
                                f"{unlisted} more bad line(s), not named one by one"))
    return problems


def _partial(accepted: int, problems: list[Problem], v2: bool, unlisted: int = 0) -> JSONResponse:
    """400 naming the first problems; `unlisted` bad lines are summed up in one of `problems`."""
    rejected_lines = len(problems) + (unlisted - 1 if unlisted else 0)
    listed = problems[:MAX_LISTED_PROBLEMS + 1]  # the parser's first bad lines and their summary
    more = len(problems) - len(listed)
    detail = "; ".join(f"{p.location}: {p.reason}" for p in listed)
    if more:
        detail += f"; and {more} more"
    message = f"partial write: {rejected_lines} line(s) rejected, {accepted} sample(s) written: {detail}"
    rejected = [{"location": p.location, "reason": p.reason} for p in listed]
    body = ({"code": "invalid", "message": message, "rejected": rejected} if v2
            else {"error": message, "rejected": rejected})
    return JSONResponse(body, status_code=400)


def _error(status: int, message: str, v2: bool, retry_after: float | None = None) -> JSONResponse:
    codes = {400: "invalid", 413: "request too large", 415: "unsupported media type", 429: "too many requests",
             503: "unavailable"}
    body = {"code": codes.get(status, "invalid"), "message": message} if v2 else {"error": message}
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return JSONResponse(body, status_code=status, headers=headers)
