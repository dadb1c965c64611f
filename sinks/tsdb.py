"""Metrics → the time-series store, as Influx line protocol through influxdb-client.

VictoriaMetrics takes line protocol on /api/v2/write and, run with `-influxSkipSingleField`,
stores `name,labels value=V T` as metric `name{labels}` (docs/stack.md); InfluxDB 2.x/3.x take the
same lines. Line protocol: https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterable

import urllib3.exceptions
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.write_api import SYNCHRONOUS

from kernel.retry import PermanentError, RetryableError
from schemas.records import MetricBatch, Sample
from schemas.series_batch import Columns
from sinks import metrics
from sinks.base import Consumed, WriteFailed, WriteRejected
from sinks.durability import StoreUnreachable

# Measurement names escape commas and spaces, tag keys and values also `=`. Backslash is escaped
# too: "two contiguous backslashes, the first is an escape" (a value ending in `\` would otherwise
# escape the following space). Line protocol cannot carry a newline in a tag at all, so it is
# written as the two characters `\n` rather than cutting the line in two.
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\\": "\\\\", "\n": r"\n"})
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": r"\n"})

# Statuses worth retrying. 5xx, 408 and 429 are transient (InfluxDB answers 429/503 with
# Retry-After: https://docs.influxdata.com/influxdb/v2/api/#operation/PostWrite). 401/403/404/405
# mean a wrong URL or credentials, the same for every batch: dropping data until someone fixes
# the config would lose all of it, so they are retried (and logged) instead.
RETRYABLE_STATUS = frozenset({401, 403, 404, 405, 408, 429})

_PREFIX_CACHE_MAX = 1_000_000  # series; a clear costs one rebuild per live series, so it must exceed them
# ...and bytes: a prefix holds every label of its series (up to 64 × 2 KB), so a count bounds no memory.
_PREFIX_CACHE_MAX_BYTES = 256 * 1024 * 1024
_PREFIX_ENTRY_BYTES = 150  # dict slot, key int / tuple, str header
PREFIX_CACHE = "series_prefix"  # the `cache` label of vigil_sink_cache_*
_START_TIME = re.compile(r"^process_start_time_seconds ([0-9.e+]+)$", re.MULTILINE)


def series_prefix(name: str, labels: dict[str, str]) -> str:
    """`measurement,key=value,...` of one series: escaped, labels with an empty key or value left out."""
    tags = "".join([f",{k.translate(_TAG)}={v.translate(_TAG)}" for k, v in labels.items() if k and v])
    return name.translate(_MEASUREMENT) + tags


class LineEncoder:
    """Builds line protocol for many samples; caches each series' escaped prefix (series repeat)."""

    def __init__(self, cache_size: int = _PREFIX_CACHE_MAX, cache_bytes: int = _PREFIX_CACHE_MAX_BYTES) -> None:
        self._prefixes: dict[tuple, str] = {}
        self._by_id: dict[int, str] = {}  # series id → "prefix value=" (SeriesBatch)
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self.prefix_bytes = 0  # both caches, estimated; each clears when the two pass cache_bytes

    def column_lines(self, batches: Iterable[Columns]) -> list[str]:
        """The lines of SeriesBatch columns: one cached prefix per series id, no Sample dicts built."""
        out: list[str] = []
        append = out.append
        prefixes = self._by_id
        for batch in batches:
            names, ids = batch.names, batch.series_ids
            if len(prefixes) + len(ids) > self._cache_size or self.prefix_bytes > self._cache_bytes:
                self._forget()
                prefixes = self._by_id
            local = []
            for sid in ids:
                prefix = prefixes.get(sid)
                if prefix is None:
                    name, labels = names[sid]
                    prefix = prefixes[sid] = series_prefix(name, labels) + " value="
                    self.prefix_bytes += len(prefix) + _PREFIX_ENTRY_BYTES
                local.append(prefix)
            metrics.CACHE_BYTES.labels(PREFIX_CACHE).set(self.prefix_bytes)
            for i, ts, value in zip(batch.sample_series, batch.timestamps_ms, batch.values):
                if value != value:
                    continue  # NaN: see lines()
                append(f"{local[i]}{value!r} {ts}")
        return out

    def lines(self, samples: Iterable[Sample]) -> list[str]:
        """One `prefix value=V T` line per sample, timestamps in ms; NaN samples are left out."""
        out: list[str] = []
        append = out.append
        prefixes = self._prefixes
        for s in samples:
            value = float(s["value"])
            if value != value:
                # NaN (e.g. a Prometheus staleness marker): VictoriaMetrics drops it, InfluxDB
                # refuses the whole request for it. +-Inf are kept: VictoriaMetrics stores them.
                continue
            labels = s["labels"]
            key = (s["name"], *labels.items())
            prefix = prefixes.get(key)
            if prefix is None:
                if len(prefixes) >= self._cache_size or self.prefix_bytes > self._cache_bytes:
                    self._forget()
                    prefixes = self._prefixes
                prefix = prefixes[key] = series_prefix(s["name"], labels)
                # The key tuple holds the labels' strings (shared with the batch) and one slot per label.
                self.prefix_bytes += 2 * len(prefix) + _PREFIX_ENTRY_BYTES + 72 * len(labels)
            append(f"{prefix} value={value!r} {s['timestamp_ms']}")
        metrics.CACHE_BYTES.labels(PREFIX_CACHE).set(self.prefix_bytes)
        return out

    def _forget(self) -> None:
        """Start both prefix caches afresh (one rebuild per live series follows)."""
        metrics.CACHE_EVICTIONS.labels(PREFIX_CACHE).inc(len(self._prefixes) + len(self._by_id))
        self._prefixes, self._by_id = {}, {}
        self.prefix_bytes = 0


def classify(exc: Exception) -> RetryableError | PermanentError:
    """Map an influxdb-client/urllib3 error to the taxonomy, with a stable message (logged once)."""
    if isinstance(exc, InfluxDBError) and getattr(exc, "status", None):
        status = exc.status
        body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        message = f"TSDB answered HTTP {status} {exc.reason}: {body.strip()[:300]}"
        if status >= 500 or status in RETRYABLE_STATUS:
            reason = "http_5xx" if status >= 500 else f"http_{status}"
            return WriteFailed(message, reason, retry_after=_seconds(exc.retry_after))
        return WriteRejected(message, "http_4xx")
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return WriteFailed(f"TSDB unreachable: {exc}", "unreachable")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return WriteFailed(f"TSDB timed out: {type(exc).__name__}", "timeout")
    if isinstance(exc, (urllib3.exceptions.HTTPError, InfluxDBError, OSError)):
        return WriteFailed(f"TSDB connection failed: {type(exc).__name__}: {exc}", "connection")
    raise TypeError(f"not a TSDB client error: {exc!r}") from exc


def _seconds(retry_after: str | None) -> float | None:
    try:
        return float(retry_after) if retry_after else None
    except ValueError:
        return None  # an HTTP-date: the backoff's own delay will do


class TsdbSink:
    """Writes every sample of MetricBatch records, in requests of at most `max_lines` lines."""

    name = "tsdb"

    def __init__(self, url: str, timeout_s: float, max_lines: int, durable_after_s: float = 15.0) -> None:
        # urllib3 retries stay off (the client's default): the sink loop owns retries and backoff.
        self._client = InfluxDBClient(url=url, token="unused", org="vigil", timeout=int(timeout_s * 1000))
        self._metrics_url = url.rstrip("/") + "/metrics"
        self.durable_after_s = durable_after_s  # sinks/durability.py
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._encoder = LineEncoder()
        self._max_lines = max_lines

    def write(self, records: list[Consumed]) -> int:
        """Write the samples of every batch (SeriesBatch columns, or v1 MetricBatches); returns the points written."""
        columns = [r.value for r in records if isinstance(r.value, Columns)]
        lines = self._encoder.column_lines(columns)
        if len(columns) < len(records):  # vigil.metrics.v1, drained during the transition
            v1: list[MetricBatch] = [r.value for r in records if not isinstance(r.value, Columns)]
            lines += self._encoder.lines(s for batch in v1 for s in batch["samples"])
        for start in range(0, len(lines), self._max_lines):
            # One joined string rather than a list: influxdb-client serialises a list item by
            # item at ~280k lines/s, a single str ~1.4M lines/s (measured here).
            body = "\n".join(lines[start:start + self._max_lines])
            try:
                self._write_api.write(bucket="vigil", record=body, write_precision=WritePrecision.MS)
            except (InfluxDBError, urllib3.exceptions.HTTPError, OSError) as exc:
                raise classify(exc) from exc
        return len(lines)

    def started_at(self) -> float | None:
        """The store's `process_start_time_seconds` (VictoriaMetrics, InfluxDB 2), None if it has none."""
        try:
            with urllib.request.urlopen(self._metrics_url, timeout=5) as resp:
                text = resp.read().decode(errors="replace")
        except urllib.error.HTTPError:
            return None  # no /metrics here: trust durable_after_s alone
        except OSError as exc:
            raise StoreUnreachable(str(exc)) from exc
        match = _START_TIME.search(text)
        return float(match.group(1)) if match else None

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
