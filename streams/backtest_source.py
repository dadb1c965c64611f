"""A rule's stored samples read back from VictoriaMetrics for a backtest, a chunk of time per request.

`/api/v1/export` returns the exact raw samples, one JSON line per series
(`{"metric": {...}, "values": [...], "timestamps": [...]}`, both ends of the range inclusive),
https://docs.victoriametrics.com/#how-to-export-data-in-json-line-format. The response is read
line by line, so only one series of one chunk is in memory at a time; long ranges are split into
chunks so progress can be shown and memory stays bounded, while `Replay` keeps every alert's
state across them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from streams.backtest import Replay, Row, SeriesChunk
from kernel.rules import Rule

EXPORT_PATH = "/api/v1/export"
CHUNK_MS = 3600 * 1000  # one request per hour of data on long ranges
SINGLE_REQUEST_MAX_MS = 6 * 3600 * 1000  # ranges up to this are read in one request


class TsdbUnavailable(Exception):
    """VictoriaMetrics did not answer, answered 5xx, or broke off the export."""


class TsdbRefused(Exception):
    """VictoriaMetrics refused the request (4xx), e.g. a regex matcher its engine cannot compile."""


@dataclass(frozen=True)
class Chunk:
    """One request's time range (both ends inclusive, ms) and its place among the chunks."""

    index: int
    count: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Result:
    """What a backtest read and found."""

    rows: list[Row]
    samples: int
    series: int
    seconds: float


def selector(rule: Rule) -> str:
    """The series selector `metric{matchers}` of a rule, values quoted as PromQL strings."""
    matchers = ",".join(str(m) for m in rule.selectors())
    return f"{rule.metric}{{{matchers}}}" if matchers else rule.metric


def chunks(start_ms: int, end_ms: int, chunk_ms: int = CHUNK_MS,
           single_max_ms: int = SINGLE_REQUEST_MAX_MS) -> list[Chunk]:
    """Consecutive, non-overlapping ranges covering start..end: one for short spans, else `chunk_ms` each."""
    if end_ms - start_ms <= single_max_ms:
        return [Chunk(0, 1, start_ms, end_ms)]
    bounds = range(start_ms, end_ms, chunk_ms)
    last = len(bounds) - 1
    return [Chunk(i, last + 1, lo, end_ms if i == last else lo + chunk_ms - 1) for i, lo in enumerate(bounds)]


def export(client: httpx.Client, match: str, start_ms: int, end_ms: int) -> Iterator[SeriesChunk]:
    """The raw samples of every series `match` selects in start..end (inclusive), one series at a time."""
    form = {"match[]": match, "start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}"}
    try:
        with client.stream("POST", EXPORT_PATH, data=form) as response:
            if response.status_code >= 500:
                raise TsdbUnavailable(f"VictoriaMetrics answered {response.status_code}: "
                                      f"{response.read().decode(errors='replace')[:300]}")
            if response.status_code >= 400:
                raise TsdbRefused(f"VictoriaMetrics refused {match}: {response.read().decode(errors='replace')[:300]}")
            for line in response.iter_lines():
                if line:
                    yield _series(line)
    except httpx.HTTPError as exc:
        raise TsdbUnavailable(f"VictoriaMetrics at {client.base_url} did not answer: {exc or type(exc).__name__}"
                              ) from None


def _loads(line: str) -> dict:
    """json.loads, also of the `+Inf`/`-Inf` VictoriaMetrics writes for infinite values (not JSON)."""
    try:
        return json.loads(line)
    except ValueError:
        at = line.rfind('"values":[')  # the numbers come after the labels, which may hold "+Inf" (le="+Inf")
        if at < 0:
            raise
        tail = line[at:].replace("+Inf", "Infinity").replace("-Inf", "-Infinity")
        return json.loads(line[:at] + tail)


def _series(line: str) -> SeriesChunk:
    """One export line as (labels without __name__, timestamps, values); NaNs (staleness markers) dropped."""
    try:
        body = _loads(line)
        labels = body["metric"]
        timestamps, values = body["timestamps"], body["values"]
    except (ValueError, KeyError, TypeError):
        raise TsdbUnavailable(f"VictoriaMetrics broke off the export: {line[:300]}") from None
    labels.pop("__name__", None)
    if any(math.isnan(v) for v in values):
        kept = [(t, v) for t, v in zip(timestamps, values) if not math.isnan(v)]
        timestamps, values = [t for t, _ in kept], [v for _, v in kept]
    return labels, timestamps, values


def run(rule: Rule, client: httpx.Client, start_ms: int, end_ms: int,
        on_chunk: Callable[[Chunk, int], None] | None = None, chunk_ms: int = CHUNK_MS) -> Result:
    """Backtest `rule` over start..end against VictoriaMetrics; `on_chunk(chunk, samples so far)` after each."""
    began = time.monotonic()
    replay = Replay(rule, start_ms, end_ms)
    match = selector(rule)
    for chunk in chunks(replay.earliest_ms, end_ms, chunk_ms):
        for labels, timestamps, values in export(client, match, chunk.start_ms, chunk.end_ms):
            replay.feed(labels, timestamps, values)
        replay.close_chunk(chunk.end_ms)
        if on_chunk is not None:
            on_chunk(chunk, replay.samples)
    return Result(replay.finish(), replay.samples, replay.series, time.monotonic() - began)

