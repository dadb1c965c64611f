"""Prometheus' HTTP query API over VictoriaMetrics, so Grafana can use Vigil as a Prometheus data source.

https://prometheus.io/docs/prometheus/latest/querying/api/
Every route answers GET (parameters in the URL) and POST (an application/x-www-form-urlencoded body,
Grafana's default; body values come first, then the URL's, as in Prometheus). Parameters are checked
here and only the checked ones are forwarded; PromQL itself is passed through as text, parsed by
VictoriaMetrics, never assembled from input. A successful answer is VictoriaMetrics' own body, streamed
through (it is already in Prometheus' shape). Errors use Prometheus' envelope and status codes:
`{"status": "error", "errorType": "bad_data", "error": "..."}` — VictoriaMetrics puts its HTTP status
in `errorType`, so its errors are re-enveloped with its message kept.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask

from api.deps import TsdbDep
from api.errors import RETRY_AFTER_S, BadParam
from api.models.prometheus import (PromBuildInfo, PromBuildInfoAnswer, PromErrorAnswer, PromExemplarsAnswer,
                                   PromLabelsAnswer, PromMetadataAnswer, PromQueryAnswer, PromSeriesAnswer)
from api.request_body import RequestProblem, read_body
from api.strict_params import ANY_QUERY
from api.timerange import MAX_POINTS, parse_step, parse_time
from kernel.names import LABEL_NAME_SYNTAX, METRIC_NAME_SYNTAX, is_label_name, is_metric_name

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 16 * 1024
MAX_BODY_BYTES = 256 * 1024  # a 16 KiB query percent-encoded, plus selectors and times
MAX_FIELDS = 200
MAX_SELECTORS = 64
MAX_LIMIT = 1_000_000_000
MAX_ERROR_CHARS = 2000
TIMEOUT_MARGIN_S = 1.0  # wait a little longer than the store was told to, so it answers the timeout itself
FORM = "application/x-www-form-urlencoded"
# What Grafana reads to tell Prometheus from Mimir/Cortex/Thanos: no `features`, so plain Prometheus,
# and a version whose query API this one matches.
BUILD_INFO = PromBuildInfo(version="2.45.0", revision="vigil", branch="vigil", buildUser="vigil", buildDate="",
                           goVersion="")
# https://github.com/prometheus/prometheus/blob/main/web/api/v1/api.go (returnAPIError)
STATUS_OF = {"bad_data": 400, "execution": 422, "timeout": 503, "unavailable": 503}

# A series selector as Prometheus' ParseMetricSelector takes it: `name`, `name{...}` or `{...}`, matched on the
# stripped text. Possessive quantifiers (`*+`) and atomic groups (`(?>…)`, the names): a regex that backtracks
# over runs of spaces takes minutes.
_STRING = r'"(?:[^"\\\n]|\\.)*+"' r"|'(?:[^'\\\n]|\\.)*+'" r"|`[^`]*+`"
_MATCHER = rf"(?>{LABEL_NAME_SYNTAX})\s*+(?:=~|!~|!=|=)\s*+(?:{_STRING})"
_SELECTOR = re.compile(rf"(?P<name>(?>{METRIC_NAME_SYNTAX}))?\s*+"
                       rf"(?P<braces>\{{\s*+(?:{_MATCHER}(?:\s*+,\s*+{_MATCHER})*+\s*+,?\s*+)?\}})?", re.DOTALL)


class PromError(Exception):
    """An error answered in Prometheus' envelope; `error_type` sets the HTTP status (STATUS_OF)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message

    def response(self) -> JSONResponse:
        """The error as Prometheus answers it; a store that is down or slow also says when to retry."""
        headers = {"Retry-After": str(RETRY_AFTER_S)} if STATUS_OF[self.error_type] == 503 else None
        return JSONResponse({"status": "error", "errorType": self.error_type, "error": self.message},
                            status_code=STATUS_OF[self.error_type], headers=headers)


def bad_param(name: str, reason: str) -> PromError:
    """A bad_data error naming the parameter, worded like Prometheus' own."""
    return PromError("bad_data", f'invalid parameter "{name}": {reason}')


class PrometheusRoute(APIRoute):
    """A route whose errors, including FastAPI's validation and the app's NUL check, use Prometheus' envelope.

    Grafana shows `error` of that envelope; Vigil's own `{"detail"}` shape would reach users as
    "unknown error". Auth errors (401/403/429) keep the API's shape: they are not about the query.
    """

    def get_route_handler(self):
        """The usual handler, with Prometheus-shaped answers for bad input and an unreachable store."""
        handler = super().get_route_handler()

        async def prometheus_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException:
                raise
            except PromError as exc:
                error = exc
            except RequestValidationError as exc:
                first = exc.errors()[0]
                error = bad_param(str(first["loc"][-1]), first["msg"])
            except BadParam as exc:
                error = bad_param(exc.loc[-1], exc.msg)
            except RequestProblem as exc:
                error = PromError("bad_data", str(exc))
            except httpx.TimeoutException as exc:
                error = PromError("timeout", f"the time-series store did not answer in time ({type(exc).__name__})")
            except httpx.TransportError as exc:
                error = PromError("unavailable", f"the time-series store is unreachable ({type(exc).__name__})")
            if error.error_type in ("timeout", "unavailable"):
                log.warning("prometheus API %s: %s", request.url.path, error.message)
            return error.response()

        return prometheus_errors


router = APIRouter(prefix="/api/v1", tags=["metrics"], route_class=PrometheusRoute)


class Params:
    """A request's parameters: the form body's (POST) first, then the URL's, as Prometheus' `r.Form`."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def first(self, name: str) -> str | None:
        """The first value of `name`, or None when absent."""
        return next((value for key, value in self.pairs if key == name), None)

    def every(self, name: str) -> list[str]:
        """Every value of `name`, in order."""
        return [value for key, value in self.pairs if key == name]


async def _read_params(request: Request) -> Params:
    pairs: list[tuple[str, str]] = []
    if request.method == "POST":
        body = await read_body(request, MAX_BODY_BYTES, "query")
        if body:
            media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if media_type != FORM:
                raise PromError("bad_data", f"a POST body must be {FORM}, not {media_type[:80] or 'untyped'}")
            try:
                pairs = urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                                               errors="strict", max_num_fields=MAX_FIELDS)
            except UnicodeDecodeError:
                raise PromError("bad_data", "the form body is not percent-encoded UTF-8") from None
            except ValueError:
                raise PromError("bad_data", f"the form body has more than {MAX_FIELDS} fields") from None
            for name, value in pairs:
                if "\x00" in name or "\x00" in value:
                    raise bad_param(name.replace("\x00", "\\0")[:80], "contains a NUL byte")
    # NUL in the URL is refused by the app (api/main.py) before the route runs.
    return Params(pairs + list(request.query_params.multi_items()))


ParamsDep = Annotated[Params, Depends(_read_params)]


def _query(params: Params) -> str:
    text = params.first("query")
    if text is None or not text.strip():
        raise bad_param("query", "missing; send PromQL, e.g. rate(http_requests_total[5m])")
    if len(text.encode()) > MAX_QUERY_BYTES:
        raise bad_param("query", f"longer than {MAX_QUERY_BYTES} bytes")
    return text


def _time(params: Params, name: str) -> float | None:
    text = params.first(name)
    if text is None or text == "":
        return None
    try:
        return parse_time(name, text)
    except BadParam as exc:
        raise bad_param(name, exc.msg) from None


def _seconds(params: Params, name: str) -> float | None:
    text = params.first(name)
    if text is None or text == "":
        return None
    try:
        return parse_step(text)
    except BadParam as exc:
        raise bad_param(name, exc.msg) from None


def _span(params: Params) -> tuple[float | None, float | None]:
    start, end = _time(params, "start"), _time(params, "end")
    if start is not None and end is not None and end < start:
        raise bad_param("end", "end timestamp must not be before start time")
    return start, end


def _limit(params: Params) -> int | None:
    text = params.first("limit")
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or int(text) > MAX_LIMIT:
        raise bad_param("limit", f"{text[:40]!r} is not a whole number from 0 to {MAX_LIMIT}")
    return int(text)


def _selectors(params: Params, required: bool) -> list[str]:
    selectors = params.every("match[]")
    if required and not selectors:
        raise PromError("bad_data", "no match[] parameter provided; send a series selector like up{job=\"node\"}")
    if len(selectors) > MAX_SELECTORS:
        raise bad_param("match[]", f"at most {MAX_SELECTORS} selectors, got {len(selectors)}")
    for text in selectors:
        if len(text.encode()) > MAX_QUERY_BYTES:
            raise bad_param("match[]", f"longer than {MAX_QUERY_BYTES} bytes")
        found = _SELECTOR.fullmatch(text.strip())
        if not found or not (found["name"] or found["braces"]):
            raise bad_param("match[]", f"{text[:120]!r} is not a series selector like up or "
                                       "http_requests_total{job=\"api\",code=~\"5..\"}")
    return selectors


def _timeout(params: Params, tsdb: httpx.AsyncClient) -> tuple[dict[str, str], float | None]:
    """The `timeout` to forward to the store and how long to wait for it (None: the client's default)."""
    seconds = _seconds(params, "timeout")
    if seconds is None:
        return {}, None
    ceiling = tsdb.timeout.read
    wait = seconds + TIMEOUT_MARGIN_S if ceiling is None else min(ceiling, seconds + TIMEOUT_MARGIN_S)
    return {"timeout": f"{max(1, round(seconds * 1000))}ms"}, wait


def _with(form: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """`form` plus each optional parameter that was given, in the text the store reads."""
    for name, value in optional.items():
        if value is not None:
            form[name] = f"{value:.3f}" if isinstance(value, float) else str(value)
    return form


def _store_error(status: int, body: bytes) -> PromError:
    """A non-200 answer of VictoriaMetrics as Prometheus would word it, keeping the store's message."""
    try:
        message = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        message = body.decode(errors="replace")
    message = str(message)[:MAX_ERROR_CHARS]
    if status == 422:  # the query could not be parsed or run: a syntax error, an unknown function, a limit
        return PromError("execution", message)
    if status in (400, 404, 413):
        return PromError("bad_data", message)
    if status == 503 and ("timeout" in message.lower() or "deadline" in message.lower()):
        return PromError("timeout", f"the time-series store timed out: {message}")
    return PromError("unavailable", f"the time-series store answered HTTP {status}: {message}")


async def _forward(request: Request, tsdb: httpx.AsyncClient, path: str, form: dict[str, Any],
                   wait_s: float | None = None) -> Response:
    """POST the checked parameters to VictoriaMetrics and stream its answer back as it comes."""
    # Compressed bytes pass through untouched when the caller takes gzip (Grafana does).
    encoding = "gzip" if "gzip" in request.headers.get("accept-encoding", "").lower() else "identity"
    outgoing = tsdb.build_request("POST", path, data=form, headers={"Accept-Encoding": encoding},
                                  timeout=wait_s if wait_s is not None else httpx.USE_CLIENT_DEFAULT)
    answer = await tsdb.send(outgoing, stream=True)
    if answer.status_code != 200:
        try:
            body = await answer.aread()
        finally:
            await answer.aclose()
        raise _store_error(answer.status_code, body)
    headers = {"Content-Encoding": answer.headers["content-encoding"]} if "content-encoding" in answer.headers else {}
    return StreamingResponse(answer.aiter_raw(), media_type="application/json", headers=headers,
                             background=BackgroundTask(answer.aclose))


@dataclass(frozen=True)
class Param:
    """One parameter of a Prometheus route, as documented in OpenAPI (checked by hand in the route)."""

    name: str
    description: str
    example: str
    required: bool = False
    repeated: bool = False

    def schema(self) -> dict:
        """Its JSON schema, with its example."""
        if self.repeated:
            return {"type": "array", "items": {"type": "string"}, "examples": [[self.example]]}
        return {"type": "string", "examples": [self.example]}


def _documented(*params: Param) -> tuple[dict, dict]:
    """OpenAPI for the same parameters sent in the URL (GET) and in a form body (POST).

    Both take parameters they don't know (ANY_QUERY), as Prometheus does: Grafana adds its own,
    and a data source's "custom query parameters" to every request. Only checked ones are forwarded.
    """
    in_url = {**ANY_QUERY, "parameters": [{"name": p.name, "in": "query", "required": p.required, "description": p.description,
                              "schema": p.schema()} for p in params]}
    in_form = {**ANY_QUERY, "requestBody": {"required": False, "content": {FORM: {
        "schema": {"type": "object", "properties": {p.name: {**p.schema(), "description": p.description}
                                                    for p in params},
                   "required": [p.name for p in params if p.required]},
        "example": {p.name: p.example for p in params}}}}}
    return in_url, in_form


QUERY = Param("query", f"PromQL (at most {MAX_QUERY_BYTES} bytes)", 'sum by (job) (rate(http_requests_total[5m]))',
              required=True)
TIMEOUT = Param("timeout", "evaluation timeout: seconds or a duration like 30s", "30s")
START = Param("start", "unix seconds or RFC 3339", "2026-12-01T09:00:00Z")
END = Param("end", "unix seconds or RFC 3339, not before start", "2026-12-01T10:00:00Z")
LIMIT = Param("limit", "at most this many results (0: no limit)", "100")
MATCH = Param("match[]", "series selector; repeat for several (any may match)", 'up{job="node"}', repeated=True)

_INSTANT = _documented(QUERY, Param("time", "evaluation time: unix seconds or RFC 3339; default now",
                                    "2026-12-01T10:00:00Z"), TIMEOUT)
_RANGE = _documented(QUERY, Param(START.name, START.description, START.example, required=True),
                     Param(END.name, END.description, END.example, required=True),
                     Param("step", f"resolution: seconds or a duration like 15s; at most {MAX_POINTS:,} points "
                                   "per series", "15s", required=True), TIMEOUT)
_SERIES = _documented(Param(MATCH.name, MATCH.description, MATCH.example, required=True, repeated=True),
                      START, END, LIMIT)
_LABELS = _documented(MATCH, START, END, LIMIT)
_METADATA = _documented(Param("metric", "only this metric", "http_requests_total"), LIMIT,
                        Param("limit_per_metric", "at most this many entries per metric", "1"))
_EXEMPLARS = _documented(QUERY, START, END)


def _answers(model: type) -> dict:
    return {200: {"model": model}, 400: {"model": PromErrorAnswer, "description": "bad_data: a parameter at fault"},
            422: {"model": PromErrorAnswer, "description": "execution: the store could not parse or run the query"},
            503: {"model": PromErrorAnswer, "description": "unavailable or timeout; retry after Retry-After"}}


@router.get("/query", response_model=None, responses=_answers(PromQueryAnswer), openapi_extra=_INSTANT[0],
            summary="PromQL instant query")
@router.post("/query", response_model=None, responses=_answers(PromQueryAnswer), openapi_extra=_INSTANT[1],
             summary="PromQL instant query (form body)")
async def query(request: Request, tsdb: TsdbDep, params: ParamsDep) -> Response:
    """Evaluate `query` at `time` (default now): a vector, scalar or string."""
    query_text, at = _query(params), _time(params, "time")
    timeout, wait_s = _timeout(params, tsdb)
    return await _forward(request, tsdb, "/api/v1/query", _with({"query": query_text, **timeout}, time=at), wait_s)


@router.get("/query_range", response_model=None, responses=_answers(PromQueryAnswer), openapi_extra=_RANGE[0],
            summary="PromQL range query")
@router.post("/query_range", response_model=None, responses=_answers(PromQueryAnswer), openapi_extra=_RANGE[1],
             summary="PromQL range query (form body)")
async def query_range(request: Request, tsdb: TsdbDep, params: ParamsDep) -> Response:
    """Evaluate `query` every `step` from `start` to `end`: a matrix."""
    query_text = _query(params)
    start, end = _span(params)
    step = _seconds(params, "step")
    for name, value in (("start", start), ("end", end), ("step", step)):
        if value is None:
            raise bad_param(name, "missing; a range query needs start, end and step")
    if (end - start) / step > MAX_POINTS:
        raise bad_param("step", f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries. "
                                "Try decreasing the query resolution (?step=XX)")
    timeout, wait_s = _timeout(params, tsdb)
    form = _with({"query": query_text, **timeout}, start=start, end=end, step=f"{step:.3f}s")
    return await _forward(request, tsdb, "/api/v1/query_range", form, wait_s)


@router.get("/series", response_model=None, responses=_answers(PromSeriesAnswer), openapi_extra=_SERIES[0],
            summary="Series matching selectors")
@router.post("/series", response_model=None, responses=_answers(PromSeriesAnswer), openapi_extra=_SERIES[1],
             summary="Series matching selectors (form body)")
async def series(request: Request, tsdb: TsdbDep, params: ParamsDep) -> Response:
    """The label sets of the series that match any `match[]` between `start` and `end`."""
    selectors = _selectors(params, required=True)
    start, end = _span(params)
    form = _with({"match[]": selectors}, start=start, end=end, limit=_limit(params))
    return await _forward(request, tsdb, "/api/v1/series", form)


@router.get("/labels", response_model=None, responses=_answers(PromLabelsAnswer), openapi_extra=_LABELS[0],
            summary="Label names")
@router.post("/labels", response_model=None, responses=_answers(PromLabelsAnswer), openapi_extra=_LABELS[1],
             summary="Label names (form body)")
async def labels(request: Request, tsdb: TsdbDep, params: ParamsDep) -> Response:
    """The label names of the series matching any `match[]` (all series without one)."""
    selectors = _selectors(params, required=False)
    start, end = _span(params)
    form = _with({"match[]": selectors} if selectors else {}, start=start, end=end, limit=_limit(params))
    return await _forward(request, tsdb, "/api/v1/labels", form)


def _label_name(name: Annotated[str, Path(examples=["job", "__name__"], max_length=200)]) -> str:
    if not is_label_name(name):
        raise PromError("bad_data", f"invalid label name: {name[:120]!r}; a label name is {LABEL_NAME_SYNTAX}")
    return name


LabelName = Annotated[str, Depends(_label_name)]


@router.get("/label/{name}/values", response_model=None, responses=_answers(PromLabelsAnswer),
            openapi_extra=_LABELS[0], summary="Values of a label")
@router.post("/label/{name}/values", response_model=None, responses=_answers(PromLabelsAnswer),
             openapi_extra=_LABELS[1], summary="Values of a label (form body)")
async def label_values(request: Request, tsdb: TsdbDep, params: ParamsDep, name: LabelName) -> Response:
    """The values label `name` takes in the series matching any `match[]`; `__name__` gives metric names."""
    selectors = _selectors(params, required=False)
    start, end = _span(params)
    form = _with({"match[]": selectors} if selectors else {}, start=start, end=end, limit=_limit(params))
    return await _forward(request, tsdb, f"/api/v1/label/{name}/values", form)


@router.get("/metadata", response_model=None, responses=_answers(PromMetadataAnswer), openapi_extra=_METADATA[0],
            summary="Metric metadata")
@router.post("/metadata", response_model=None, responses=_answers(PromMetadataAnswer),
             openapi_extra=_METADATA[1], summary="Metric metadata (form body)")
async def metadata(request: Request, tsdb: TsdbDep, params: ParamsDep) -> Response:
    """Type, help and unit per metric, as far as the store keeps them."""
    metric = params.first("metric")
    if metric and not is_metric_name(metric):
        raise bad_param("metric", f"{metric[:120]!r} is not a metric name ({METRIC_NAME_SYNTAX})")
    per_metric = params.first("limit_per_metric")
    if per_metric and not (per_metric.isascii() and per_metric.isdigit() and int(per_metric) <= MAX_LIMIT):
        raise bad_param("limit_per_metric", f"{per_metric[:40]!r} is not a whole number from 0 to {MAX_LIMIT}")
    form = _with({}, metric=metric or None, limit=_limit(params), limit_per_metric=per_metric or None)
    return await _forward(request, tsdb, "/api/v1/metadata", form)


@router.get("/query_exemplars", response_model=PromExemplarsAnswer, responses=_answers(PromExemplarsAnswer),
            openapi_extra=_EXEMPLARS[0], summary="Exemplars (none)")
@router.post("/query_exemplars", response_model=PromExemplarsAnswer, responses=_answers(PromExemplarsAnswer),
             openapi_extra=_EXEMPLARS[1], summary="Exemplars (none, form body)")
async def query_exemplars(params: ParamsDep) -> PromExemplarsAnswer:
    """No exemplars: Vigil stores none; Grafana asks anyway when exemplars are switched on."""
    _query(params)
    _span(params)
    return PromExemplarsAnswer(status="success", data=[])


@router.get("/status/buildinfo", response_model=PromBuildInfoAnswer, openapi_extra=ANY_QUERY,
            summary="Build information")
@router.post("/status/buildinfo", response_model=PromBuildInfoAnswer, openapi_extra=ANY_QUERY,
             summary="Build information (POST)")
async def buildinfo() -> PromBuildInfoAnswer:
    """Which Prometheus API this answers like; Grafana asks when a data source is saved."""
    return PromBuildInfoAnswer(status="success", data=BUILD_INFO)
