"""Prometheus remote write 1.0 → samples: pure, one unit per time series, bad series reported.

Spec: https://prometheus.io/docs/specs/remote_write_spec/ — the body is a snappy (block format)
compressed `prometheus.WriteRequest`. Each TimeSeries carries its labels (`__name__` is the metric
name) and samples. Classic histograms and summaries already arrive as their `_bucket{le}`,
`_sum`, `_count` and `{quantile}` series, so they need nothing special. Staleness markers and
other NaNs are skipped and counted (they are not values a rule or the TSDB can use); exemplars
and metadata are ignored; native histograms (field 4) are not declared and are skipped.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import cramjam
from google.protobuf.message import DecodeError

from ingest import metrics
from ingest.label_sets import SharedLabels
from ingest.remote_write.config import STALE_NAN_BYTES
from ingest.validate import Limits, check_labels
from kernel.bounded_cache import BoundedCache
from ingest.remote_write.prompb.remote_pb2 import Label, WriteRequestRaw
from schemas.records import Sample

NAME_LABEL = "__name__"
RAW_CHARS = 1024
Decoded = tuple[str, dict[str, str], str | None]  # (metric name, labels, why the series is refused)
# Per LabelSets (1.0 and 2.0 each). The cache keeps between half and all of its budget (two generations),
# and a series of 10 labels of 20 characters is charged ~3 KB: 512 MB keeps a fleet of 100k series whole
# (at 256 MB it missed on every lookup, and ingest cost 29 µs a sample instead of 13: bench.pipeline).
MAX_BYTES = 512 * 1024 * 1024
_LIMITS = Limits()  # a label set refused under the default limits (too long, too many) is not cached


class PayloadError(ValueError):
    """The body as a whole is unusable (not snappy, not a WriteRequest, too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class SeriesError:
    """One refused time series: where it is (`timeseries[3] up`), why, and its labels as text."""

    location: str
    reason: str
    raw: bytes


@dataclass(slots=True)
class ParsedSeries:
    """One accepted time series: its index, its samples (sharing one labels dict) and, lazily, where it is.

    It is a pipeline Unit as it is (location, samples, raw).
    """

    index: int
    samples: list[Sample]
    raw: bytes = b""

    @property
    def location(self) -> str:
        return f"timeseries[{self.index}] {self.samples[0]['name']}"


@dataclass(slots=True)
class ParseResult:
    """Good series, refused series, and the samples skipped on purpose (by reason)."""

    series: list[ParsedSeries] = field(default_factory=list)
    errors: list[SeriesError] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def decompress(body: bytes, max_bytes: int) -> bytes:
    """Snappy block format → bytes, refusing output over `max_bytes` before allocating it."""
    try:
        size = cramjam.snappy.decompress_raw_len(body)
    except cramjam.DecompressionError as exc:
        raise PayloadError(400, f"body is not snappy (block format) compressed: {exc}") from None
    if size > max_bytes:
        raise PayloadError(413, f"decompressed body would be {size} bytes; the limit is {max_bytes} bytes")
    try:
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise PayloadError(400, f"body is not valid snappy (block format): {exc}") from None


def identity(labels: dict[str, str]) -> bytes:
    """A refused series' labels as text (`name{k="v",…}`, truncated) for its dead-letter record."""
    name = labels.get(NAME_LABEL, "")
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != NAME_LABEL)
    return f"{name}{{{inner}}}"[:RAW_CHARS].encode()


class LabelSets:
    """Decoded label sets by their raw bytes: Prometheus sends the same series every scrape.

    A hit costs one tuple of bytes and one lookup instead of decoding ~10 Label messages (a
    third of ingest's CPU at remote write's shape). The dicts handed out are SharedLabels, shared
    by every request that carries the series (the pipeline's checks ride along with them), so
    nothing downstream may change a labels dict in place (no stage does: enrichment and
    relabeling build new ones).
    """

    def __init__(self, max_bytes: int = MAX_BYTES, decode: Callable[[tuple], Decoded] | None = None,
                 name: str = "remote_write_label_sets") -> None:
        self._decode = decode or _decode_labels  # remote write 2.0 passes its symbol-pair decoder
        self._sets: BoundedCache[tuple, Decoded] = metrics.watch_cache(name, BoundedCache(max_bytes, _decoded_size))

    def get(self, raw: tuple) -> Decoded:
        """(name, labels, refusal reason or None) of the series whose labels are `raw`; refused sets aren't kept."""
        found = self._sets.get(raw)
        if found is None:
            found = self._decode(raw)
            if found[2] is None and check_labels(found[1], _LIMITS) is None:
                self._sets.put(raw, found)
        return found


def _decoded_size(raw: tuple, decoded: Decoded) -> int:
    """Bytes of a cache entry: the raw chunks (1.0: bytes, 2.0: str), the name, the labels dict and its strings."""
    name, labels, _ = decoded
    return (120 + 8 * len(raw) + sum([len(chunk) + 49 for chunk in raw]) + len(name) + 49
            + 232 + 40 * len(labels) + sum([len(k) + len(v) + 98 for k, v in labels.items()]))


def _decode_labels(raw: tuple[bytes, ...]) -> Decoded:
    labels: dict[str, str] = {}
    empty = False
    for chunk in raw:
        try:
            label = Label.FromString(chunk)
        except DecodeError:
            return "", labels, "a label is not a valid prometheus.Label (is it valid UTF-8?)"
        if label.name in labels:  # also when one copy's value is empty: the spec refuses a repeated name
            return labels.get(NAME_LABEL, ""), labels, f"label '{label.name[:80]}' appears twice"
        labels[label.name] = label.value
        if not label.value:
            empty = True
    return named(labels, empty)


def named(labels: dict[str, str], empty: bool = False) -> Decoded:
    """A decoded label set split into (metric name, the other labels as one SharedLabels, refusal or None).

    `empty`: some values are "", which Prometheus treats as the label being absent, so they are dropped.
    """
    if empty:
        labels = {name: value for name, value in labels.items() if value}
    name = labels.pop(NAME_LABEL, "")
    return name, SharedLabels(labels), None if name else "series has no __name__ label"


def parse(payload: bytes, label_sets: LabelSets | None = None) -> ParseResult:
    """Decode a (decompressed) WriteRequest into samples, one unit per time series."""
    request = WriteRequestRaw()
    try:
        request.ParseFromString(payload)
    except DecodeError as exc:
        raise PayloadError(400, f"body is not a prometheus.WriteRequest protobuf: {exc}") from None
    label_sets = label_sets or LabelSets()
    result = ParseResult()
    skipped = result.skipped
    append = result.series.append
    for index, series in enumerate(request.timeseries):
        name, labels, refused = label_sets.get(tuple(series.labels))
        if refused is not None:
            result.errors.append(SeriesError(f"timeseries[{index}] {name}".rstrip(), refused,
                                             identity({NAME_LABEL: name, **labels})))
            continue
        points = series.samples
        if len(points) == 1 and (point := points[0]).value == point.value:
            # Prometheus' shape (one sample per series per request), inlined: ~a fifth of the parse.
            append(ParsedSeries(index, [{"series_id": 0, "name": name, "labels": labels, "value": point.value,
                                         "timestamp_ms": point.timestamp}]))
            continue
        samples = samples_of(points, name, labels, skipped)
        if samples:
            append(ParsedSeries(index, samples))
    return result


def samples_of(points, name: str, labels: dict[str, str], skipped: dict[str, int]) -> list[Sample]:
    """A series' Sample messages as samples; staleness markers and NaN are counted in `skipped` instead."""
    samples: list[Sample] = []
    for point in points:
        value = point.value
        if value != value:  # NaN: a staleness marker or a plain NaN, neither a usable value
            reason = "stale" if struct.pack("<d", value) == STALE_NAN_BYTES else "nan"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        samples.append({"series_id": 0, "name": name, "labels": labels, "value": value,
                        "timestamp_ms": point.timestamp})
    return samples
