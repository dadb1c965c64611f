"""Raw samples for the PromQL engine, from VictoriaMetrics' export API.

The query evaluator runs PromQL itself (kernel/promql, Prometheus 2.42 semantics) instead of asking
VictoriaMetrics' /api/v1/query: MetricsQL differs from PromQL in `rate`/`increase` extrapolation,
lookback and staleness, which changes whether and when a rule fires and what `$value` is. So the
store only hands over raw samples: `/api/v1/export` with `match[]`, `start`, `end` returns every
stored sample of the matching series exactly (docs/stack.md), one JSON object per series and line.
See https://docs.victoriametrics.com/#how-to-export-data-in-json-line-format

The metrics sink writes `name{labels}` as line protocol into VictoriaMetrics run with
`-influxSkipSingleField` (sinks/tsdb.py), so a series comes back under its own name and labels;
labels with an empty value were never stored, which is also PromQL's view of them.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from urllib.parse import urlencode

import orjson
import urllib3

from kernel.promql import Matcher, Series
from kernel.promql.matchers import matches_all

DEFAULT_TIMEOUT_S = 5.0
# VictoriaMetrics answers a request it can't serve now (overload, restart) with these: worth another try.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class StoreUnavailable(Exception):
    """The store could not be reached or did not answer in time: retry at the next evaluation.

    Retryable by nature (connection refused, timeout, 5xx); `reason` is a bounded metric label.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreRefused(Exception):
    """The store refused the request itself (a 4xx): the same request will fail again."""


def selector_text(matchers: list[Matcher]) -> str:
    """The series selector `{name="v",...}` of `matchers` for `match[]` (values quoted as PromQL strings)."""
    parts = [f"{m.name}{m.op}{json.dumps(m.value, ensure_ascii=False)}" for m in matchers]
    return "{" + ",".join(parts) + "}"


class VictoriaStorage:
    """A kernel.promql Storage over one VictoriaMetrics: connections pooled and reused, every request timed out."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_TIMEOUT_S, pool_size: int = 4) -> None:
        self.url = url.rstrip("/")
        self._http = urllib3.PoolManager(num_pools=1, maxsize=pool_size, retries=False,
                                         timeout=urllib3.Timeout(connect=min(timeout_s, 2.0), read=timeout_s))
        self.requests = 0  # export requests made (tests and metrics read it)

    def select(self, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
        """Every series matching all `matchers` with its samples in [start_ms, end_ms] (both inclusive)."""
        # VictoriaMetrics takes fractional Unix seconds; the bounds are re-checked below, so rounding is harmless.
        query = urlencode({"match[]": selector_text(matchers), "start": f"{start_ms / 1000:.3f}",
                           "end": f"{end_ms / 1000:.3f}"})
        self.requests += 1
        try:
            response = self._http.request("GET", f"{self.url}/api/v1/export?{query}", preload_content=True)
        except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 derives it from that
            raise StoreUnavailable(f"VictoriaMetrics at {self.url} unreachable: {exc}", "unreachable") from None
        except urllib3.exceptions.TimeoutError as exc:
            raise StoreUnavailable(f"VictoriaMetrics at {self.url} timed out: {type(exc).__name__}", "timeout") from None
        except urllib3.exceptions.HTTPError as exc:
            raise StoreUnavailable(f"VictoriaMetrics at {self.url} unreachable: {exc}", "unreachable") from None
        if response.status != 200:
            body = response.data.decode(errors="replace").strip()[:300]
            if response.status in RETRYABLE_STATUS:
                raise StoreUnavailable(f"VictoriaMetrics answered HTTP {response.status}: {body}", "http_5xx")
            raise StoreRefused(f"VictoriaMetrics refused the export of {selector_text(matchers)}: "
                               f"HTTP {response.status}: {body}")
        return parse_export(response.data, matchers, start_ms, end_ms)


def parse_export(body: bytes, matchers: list[Matcher], start_ms: int, end_ms: int) -> list[Series]:
    """Series from an export answer (JSON lines), samples sorted and cut to [start_ms, end_ms].

    Matchers are applied again with the engine's own (RE2, anchored) semantics, so a difference in the
    store's regex dialect can't add a series the rule should not see.
    """
    out = []
    for line in body.splitlines():
        if not line.strip():
            continue
        row = orjson.loads(line)
        labels = {k: str(v) for k, v in row["metric"].items() if v != ""}
        if not matches_all(matchers, labels):
            continue
        stamps, raw_values = row["timestamps"], row["values"]
        # The export's common case: timestamps ascending and unique. Checked and cut at C speed (sorted()
        # is linear on sorted input); anything else takes the general path below.
        if stamps == sorted(stamps) and len(set(stamps)) == len(stamps):
            i, j = bisect_left(stamps, start_ms), bisect_right(stamps, end_ms)
            if i < j:
                try:
                    values = list(map(float, raw_values[i:j]))  # float() reads "Inf", "-Inf", "NaN" as _float does
                except (TypeError, ValueError):
                    values = [_float(v) for v in raw_values[i:j]]
                out.append(Series(labels, [int(t) for t in stamps[i:j]] if type(stamps[0]) is not int else stamps[i:j],
                                  values))
            continue
        points = sorted((int(t), _float(v)) for t, v in zip(stamps, raw_values) if start_ms <= t <= end_ms)
        if not points:
            continue
        timestamps, values, last = [], [], None
        for t, v in points:
            if t == last:
                values[-1] = v  # two writes of one timestamp (a replayed batch): the same sample
                continue
            timestamps.append(t)
            values.append(v)
            last = t
        out.append(Series(labels, timestamps, values))
    return out


def _float(value: object) -> float:
    # The export writes special values as JSON numbers where it can and as strings ("Inf", "NaN") where not.
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    return {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(text) or float(text)
