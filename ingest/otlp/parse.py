"""OTLP metrics → samples: pure, one unit per data point, bad points named with their path.

Spec: https://opentelemetry.io/docs/specs/otlp/#otlphttp (the body is an
ExportMetricsServiceRequest, protobuf or JSON) and the Prometheus compatibility mapping
https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/:
- Gauge → one series; Sum → a counter (`_total`) when monotonic, else a gauge;
- Histogram (explicit buckets) → `_bucket{le=…}` (cumulative, `+Inf` = count), `_sum`, `_count`;
- ExponentialHistogram → the same three, with one `le` per populated bucket: a positive bucket
  of index i has upper bound base^(i+1), a negative one -base^i, the zero bucket zero_threshold
  (base = 2^(2^-scale)), so PromQL's histogram_quantile works on it unchanged;
- Summary → `{quantile=…}`, `_sum`, `_count`.
Delta points are marked so the server turns them into cumulative values (ingest/otlp/cumulative.py).
Points flagged "no recorded value" (OTel's staleness) are skipped and counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from ingest.otlp.config import TARGET_INFO
from ingest.otlp.translate import AttributeSets, metric_name, resource_labels
from ingest.otlp.wire.metrics_raw_pb2 import AGGREGATION_TEMPORALITY_DELTA, ExportMetricsServiceRequest
from schemas.records import Sample

NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
MAX_BUCKETS = 1_000
RAW_CHARS = 1024


class PayloadError(ValueError):
    """The body as a whole is unusable (not protobuf/JSON of the right message)."""


@dataclass(slots=True)
class ParsedPoint:
    """One accepted data point: its samples, whether it is a delta, and (lazily) its path in the request.

    It is a pipeline Unit as it is (location, samples, raw): most points are accepted, so the
    path string is only built for the few that are refused.
    """

    where: str
    index: int | None
    samples: list[Sample]
    delta: bool = False
    raw: bytes = b""

    @property
    def location(self) -> str:
        return self.where if self.index is None else f"{self.where} dataPoints[{self.index}]"


@dataclass(slots=True)
class PointError:
    """One refused data point (or metric): where it is and why."""

    location: str
    reason: str
    points: int = 1


@dataclass(slots=True)
class ParseResult:
    """Good points, refused points, and points skipped on purpose (by reason)."""

    points: list[ParsedPoint] = field(default_factory=list)
    errors: list[PointError] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


# What the protobuf runtime (upb) raises for input it refuses: DecodeError and ParseError as documented,
# ValueError/TypeError from the JSON mapping, RecursionError for deep nesting, and SystemError wrapping a
# UnicodeEncodeError for a lone surrogate escape (`{"\\ud800": 1}`) in an object key or an enum name, which
# upb looks up as UTF-8. Each is the sender's mistake: a 400 with a reason, never a 500.
_REFUSED = (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError, SystemError)


def decode(body: bytes, is_json: bool) -> ExportMetricsServiceRequest:
    """The request, in the raw-attributes view (wire/metrics_raw.proto), from a protobuf or JSON body.

    PayloadError names the problem. JSON goes through OTLP's own message class (the JSON mapping
    needs it) and is re-read as bytes, so both encodings take one path from here on.
    """
    request = ExportMetricsServiceRequest()
    if not is_json:
        try:
            request.ParseFromString(body)
        except _REFUSED as exc:
            raise PayloadError(f"body is not an ExportMetricsServiceRequest protobuf: {_reason(exc)}") from None
        return request
    message = _from_json(body)
    try:
        request.ParseFromString(message.SerializeToString())
    except _REFUSED as exc:
        raise PayloadError(f"body is not an OTLP ExportMetricsServiceRequest: {_reason(exc)}") from None
    return request


def _from_json(body: bytes) -> metrics_service_pb2.ExportMetricsServiceRequest:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("body is not JSON this server reads: nested too deeply") from None
    if not isinstance(document, dict):
        raise PayloadError("body is JSON but not an object: expected {\"resourceMetrics\": [...]}")
    _drop_exemplars(document)  # their hex trace ids are not protobuf-JSON bytes, and we ignore them
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except _REFUSED as exc:
        raise PayloadError(f"body is not an OTLP ExportMetricsServiceRequest: {_reason(exc)}") from None
    return request


def _reason(exc: BaseException) -> str:
    """What a decoder's error says, as text an answer can carry (no lone surrogate: it is sent as UTF-8)."""
    if isinstance(exc, SystemError) and isinstance(exc.__context__, UnicodeError):
        exc = exc.__context__  # upb's SystemError only says which of its methods failed
    if isinstance(exc, UnicodeEncodeError):
        text = f"a JSON string holds {exc.object[exc.start:exc.end]!a}, a lone surrogate escape (not valid Unicode)"
    elif isinstance(exc, RecursionError):
        text = "nested too deeply"
    else:
        text = str(exc) or type(exc).__name__
    return text[:500].encode("utf-8", "backslashreplace").decode("utf-8")


def _drop_exemplars(node, depth: int = 0) -> None:
    if depth > 12:  # exemplars sit at depth 8; deeper nodes are attribute values
        return
    if isinstance(node, dict):
        node.pop("exemplars", None)
        for value in node.values():
            _drop_exemplars(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            _drop_exemplars(value, depth + 1)


def parse(request: ExportMetricsServiceRequest, now_ms: int, attribute_sets: AttributeSets | None = None) -> ParseResult:
    """Every data point of the request as samples."""
    attribute_sets = attribute_sets or AttributeSets()
    result = ParseResult()
    for r, resource_metrics in enumerate(request.resource_metrics):
        try:
            common, info = resource_labels(tuple(resource_metrics.resource.attributes))
        except ValueError as exc:
            raise PayloadError(f"resourceMetrics[{r}].resource: {exc}") from None
        if info:
            result.points.append(ParsedPoint(f"resourceMetrics[{r}] {TARGET_INFO}", None, [
                {"series_id": 0, "name": TARGET_INFO, "labels": info, "value": 1.0, "timestamp_ms": now_ms}]))
        for s, scope_metrics in enumerate(resource_metrics.scope_metrics):
            scope = scope_metrics.scope
            base = {k: v for k, v in (("otel_scope_name", scope.name), ("otel_scope_version", scope.version)) if v}
            base.update(common)
            ref = attribute_sets.base_ref(base)
            for m, metric in enumerate(scope_metrics.metrics):
                where = f"resourceMetrics[{r}].scopeMetrics[{s}].metrics[{m}] {metric.name[:100]}"
                _metric(metric, where, base, ref, now_ms, result, attribute_sets)
    return result


def _metric(metric, where: str, base: dict[str, str], ref: int, now_ms: int, result: ParseResult,
            attribute_sets: AttributeSets) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        result.errors.append(PointError(where, "metric has no data (gauge, sum, histogram, "
                                               "exponentialHistogram or summary)", 0))
        return
    if not metric.name:
        result.errors.append(PointError(where, "metric has no name", len(getattr(metric, kind).data_points)))
        return
    data = getattr(metric, kind)
    delta = getattr(data, "aggregation_temporality", 0) == AGGREGATION_TEMPORALITY_DELTA
    counter = kind == "sum" and data.is_monotonic
    name = metric_name(metric.name, metric.unit, counter, kind == "gauge" or (kind == "sum" and not counter))
    convert = _CONVERTERS[kind]
    for d, point in enumerate(data.data_points):
        if point.flags & NO_RECORDED_VALUE:
            result.skipped["no_recorded_value"] = result.skipped.get("no_recorded_value", 0) + 1
            continue
        stamp = point.time_unix_nano // 1_000_000 or now_ms
        try:
            labels = attribute_sets.merged(tuple(point.attributes), base, ref)
            samples = convert(name, labels, point, stamp)
        except ValueError as exc:
            result.errors.append(PointError(f"{where} dataPoints[{d}]", str(exc)))
            continue
        result.points.append(ParsedPoint(where, d, samples, delta and kind != "gauge"))


def _sample(name: str, labels: dict[str, str], value: float, stamp: int) -> Sample:
    return {"series_id": 0, "name": name, "labels": labels, "value": value, "timestamp_ms": stamp}


def _number(name: str, labels: dict[str, str], point, stamp: int) -> list[Sample]:
    value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)
    return [_sample(name, labels, value, stamp)]


def le(bound: float) -> str:
    """A bucket bound as Prometheus writes it: `0.25`, `1`, `+Inf`."""
    if bound == math.inf:
        return "+Inf"
    text = repr(float(bound))
    return text[:-2] if text.endswith(".0") else text


def _buckets(name: str, labels: dict[str, str], bounds: list[tuple[float, int]], point, stamp: int) -> list[Sample]:
    """`_bucket` series (cumulative, ending in +Inf = count), then `_sum` when recorded, then `_count`."""
    samples, running = [], 0
    for bound, count in bounds:
        running += count
        samples.append(_sample(f"{name}_bucket", {**labels, "le": le(bound)}, float(running), stamp))
    samples.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf"}, float(point.count), stamp))
    if point.HasField("sum"):
        samples.append(_sample(f"{name}_sum", labels, point.sum, stamp))
    samples.append(_sample(f"{name}_count", labels, float(point.count), stamp))
    return samples


def _histogram(name: str, labels: dict[str, str], point, stamp: int) -> list[Sample]:
    bounds, counts = list(point.explicit_bounds), list(point.bucket_counts)
    if counts and len(counts) != len(bounds) + 1:
        raise ValueError(f"bucketCounts has {len(counts)} entries for {len(bounds)} explicitBounds "
                         f"(expected {len(bounds) + 1})")
    if any(b >= a for a, b in zip(bounds[1:], bounds)) or not all(map(math.isfinite, bounds)):
        raise ValueError("explicitBounds must be finite and strictly increasing")
    return _buckets(name, labels, list(zip(bounds, counts or [0] * len(bounds))), point, stamp)


def _exponential(name: str, labels: dict[str, str], point, stamp: int) -> list[Sample]:
    if not -10 <= point.scale <= 20:
        raise ValueError(f"scale {point.scale} is outside the range -10..20")
    populated = len(point.positive.bucket_counts) + len(point.negative.bucket_counts)
    if populated > MAX_BUCKETS:
        raise ValueError(f"{populated} buckets is more than {MAX_BUCKETS}")
    scale = point.scale
    bounds: list[tuple[float, int]] = []
    for i, count in enumerate(point.negative.bucket_counts):
        bounds.append((0.0 - power_of_base(point.negative.offset + i, scale), count))  # 0.0 - 0.0 is 0.0, not -0.0
    if point.zero_count or point.zero_threshold:
        bounds.append((point.zero_threshold, point.zero_count))
    for i, count in enumerate(point.positive.bucket_counts):
        bounds.append((power_of_base(point.positive.offset + i + 1, scale), count))
    bounds.sort(key=lambda pair: pair[0])
    # Bounds past the float range: a +Inf one is the `+Inf` bucket (= count) that _buckets adds; a -Inf
    # one holds nothing a float can be, but its count still belongs to every bucket above it.
    merged: list[tuple[float, int]] = []
    below = 0
    for bound, count in bounds:
        if bound == -math.inf:
            below += count
        elif bound == math.inf:
            break
        elif merged and merged[-1][0] == bound:  # bounds that round to the same float: one `le` series
            merged[-1] = (bound, merged[-1][1] + count)
        else:
            merged.append((bound, count + below))
            below = 0
    return _buckets(name, labels, merged, point, stamp)


def power_of_base(index: int, scale: int) -> float:
    """base^index, base = 2^(2^-scale): +Inf above the float range, 0 below it.

    At scale ≤ 0 it is computed from the exponent index·2^-scale (exact: a power of two), never as
    base**index: at scale -10, the spec's minimum, the base itself, 2^1024, is past the float range
    (https://opentelemetry.io/docs/specs/otel/metrics/data-model/#exponential-scale). Above 0 the base is
    below 2 and base**index is kept as it was, so `le` labels (series identity) don't change.
    """
    if scale > 0:
        try:
            return (2.0 ** (2.0 ** -scale)) ** index
        except OverflowError:
            return math.inf
    exponent = index << -scale
    if exponent >= 1024:
        return math.inf
    if exponent < -1075:
        return 0.0
    return 2.0 ** exponent


def _summary(name: str, labels: dict[str, str], point, stamp: int) -> list[Sample]:
    samples = [_sample(name, {**labels, "quantile": le(q.quantile)}, q.value, stamp) for q in point.quantile_values]
    samples.append(_sample(f"{name}_sum", labels, point.sum, stamp))
    samples.append(_sample(f"{name}_count", labels, float(point.count), stamp))
    return samples


_CONVERTERS = {"gauge": _number, "sum": _number, "histogram": _histogram,
               "exponential_histogram": _exponential, "summary": _summary}
