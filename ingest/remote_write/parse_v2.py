"""Prometheus remote write 2.0 → samples: pure, one unit per time series, bad series reported.

Spec: https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/ — the body is a snappy (block
format) compressed `io.prometheus.write.v2.Request`: a symbols table (symbols[0] is "") and time
series whose labels, help and unit are indices into it. What Vigil does with each part:
- labels: name/value pairs of symbols, checked like 1.0's (a reference past the table, an odd count,
  an empty name or a repeated name refuses the series); an empty value means the label is absent;
- samples: as in 1.0 — staleness markers and NaN skipped and counted, ±Inf kept;
- native histograms: the series is refused with a reason (Vigil stores classic histograms only, and
  the spec forbids a 2xx for data not written), its other series are written;
- exemplars: ignored (their label refs are not read);
- metadata: type, help and unit refs are checked to be in the table, then not stored;
- created_timestamp: accepted and not stored. A MetricBatch Sample has no start time, and rules and
  PromQL see a counter reset as 1.0 senders show it, by the value going down.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from ingest.remote_write.parse import (MAX_BYTES, NAME_LABEL, Decoded, LabelSets, ParsedSeries, ParseResult,
                                       PayloadError, SeriesError, identity, named, samples_of)
from ingest.remote_write.prompb.write_v2_pb2 import Request

MESSAGE = "io.prometheus.write.v2.Request"


def symbol_label_sets(max_bytes: int = MAX_BYTES) -> LabelSets:
    """A memo of label sets keyed by their symbol strings (name, value, name, value, …)."""
    return LabelSets(max_bytes, decode=_decode_pairs, name="remote_write_v2_label_sets")


def _decode_pairs(pairs: tuple[str, ...]) -> Decoded:
    if len(pairs) % 2:
        return "", {}, f"labels_refs has {len(pairs)} entries; they must come in name/value pairs"
    labels: dict[str, str] = {}
    empty = False
    for i in range(0, len(pairs), 2):
        name, value = pairs[i], pairs[i + 1]
        if not name:
            return labels.get(NAME_LABEL, ""), labels, f"labels_refs[{i}] points at an empty label name"
        if name in labels:  # also when one copy's value is empty: the spec refuses a repeated name
            return labels.get(NAME_LABEL, ""), labels, f"label '{name[:80]}' appears twice"
        labels[name] = value
        if not value:  # Prometheus treats an empty label value as the label being absent: dropped in named()
            empty = True
    return named(labels, empty)


def parse(payload: bytes, label_sets: LabelSets | None = None) -> ParseResult:
    """Decode a (decompressed) 2.0 Request into samples, one unit per time series."""
    request = Request()
    try:
        request.ParseFromString(payload)
    except DecodeError as exc:
        raise PayloadError(400, f"body is not an {MESSAGE} protobuf (is every symbol valid UTF-8?): {exc}") from None
    symbols = list(request.symbols)
    if request.timeseries and (not symbols or symbols[0] != ""):
        first = f"'{symbols[0][:40]}'" if symbols else "missing"
        raise PayloadError(400, f"symbols[0] must be the empty string ({MESSAGE}), it is {first}")
    label_sets = label_sets or symbol_label_sets()
    result = ParseResult()
    skipped = result.skipped
    count = len(symbols)
    lookup = symbols.__getitem__
    for index, series in enumerate(request.timeseries):
        refs = series.labels_refs
        try:
            pairs = tuple(map(lookup, refs))
        except IndexError:
            at = next(i for i, ref in enumerate(refs) if ref >= count)
            result.errors.append(SeriesError(f"timeseries[{index}]", f"labels_refs[{at}] is {refs[at]}, past the "
                                             f"end of symbols ({count} entries)", b""))
            continue
        name, labels, refused = label_sets.get(pairs)
        if refused is None:
            refused = _metadata_problem(series.metadata, count) or _histogram_problem(series)
        if refused is not None:
            result.errors.append(SeriesError(f"timeseries[{index}] {name}".rstrip(), refused,
                                             identity({NAME_LABEL: name, **labels})))
            continue
        samples = samples_of(series.samples, name, labels, skipped)
        if samples:
            result.series.append(ParsedSeries(index, samples))
    return result


def _metadata_problem(metadata, count: int) -> str | None:
    for field in ("help_ref", "unit_ref"):
        ref = getattr(metadata, field)
        if ref >= count:
            return f"metadata.{field} is {ref}, past the end of symbols ({count} entries)"
    return None


def _histogram_problem(series) -> str | None:
    histograms = len(series.histograms)
    if not histograms:
        return None
    return (f"{histograms} native histogram sample(s): Vigil stores classic histograms only "
            "(send them as _bucket/_sum/_count series); nothing of this series was written")
