"""`GET /api/v1/query_range`: one metric's series over a time range, read from VictoriaMetrics.

The selector is built from `metric` and `match` parameters (api/promql.py), never taken as text,
and run through VictoriaMetrics' Prometheus-compatible API.
https://prometheus.io/docs/prometheus/latest/querying/api/#range-queries
"""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import TsdbDep
from api.errors import BadParam, StoreUnavailable
from api.models import RangeResult, Series
from api.promql import selector
from api.timerange import parse_range

router = APIRouter(prefix="/api/v1", tags=["metrics"])
MAX_ERROR_CHARS = 500


def _number(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _series(result: list[dict]) -> list[Series]:
    series = []
    for item in result:
        labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
        series.append(Series(labels=labels, points=[(float(t), _number(v)) for t, v in item["values"]]))
    return series


@router.get("/query_range", response_model=RangeResult)
async def query_range(
    tsdb: TsdbDep,
    metric: Annotated[str, Query(max_length=200, examples=["cpu_usage_user"])],
    match: Annotated[list[str], Query(description="label matchers: name=value, name!=value, name=~re, name!~re",
                                      examples=["host=web-9"])] = [],
    start: Annotated[str | None, Query(max_length=40, description="unix seconds or RFC 3339; default end-1h")] = None,
    end: Annotated[str | None, Query(max_length=40, description="unix seconds or RFC 3339; default now")] = None,
    step: Annotated[str | None, Query(max_length=20, description="seconds or 15s/1m/1h; default range/1000")] = None,
) -> RangeResult:
    """The series of `metric` matching every `match`, sampled every `step` from `start` to `end`."""
    query = selector(metric, match)
    span = parse_range(start, end, step, now=time.time())
    answer = await tsdb.get("/api/v1/query_range", params={
        "query": query, "start": f"{span.start:.3f}", "end": f"{span.end:.3f}", "step": f"{span.step:.3f}s"})
    if answer.status_code >= 500:
        raise StoreUnavailable("tsdb", f"HTTP {answer.status_code}: {answer.text[:MAX_ERROR_CHARS]}")
    if answer.status_code >= 400:  # VictoriaMetrics refused the query: a limit or a regex RE2 rejects
        raise BadParam("query", "match", f"the time-series store refused the query: {answer.text[:MAX_ERROR_CHARS]}")
    try:
        result = answer.json()["data"]["result"]
    except (ValueError, KeyError, TypeError):
        raise StoreUnavailable("tsdb", f"unexpected answer: {answer.text[:MAX_ERROR_CHARS]}") from None
    return RangeResult(metric=metric, query=query, start=span.start, end=span.end, step=span.step,
                       series=_series(result))
