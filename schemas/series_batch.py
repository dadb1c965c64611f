"""SeriesBatch, the metrics topic's record (v2): each series named once, samples as packed columns.

Why columns: a v1 MetricBatch repeats name and labels per sample, and every consumer pays a
fastavro map decode per sample for them (~55–70k samples/s per core, docs/stack.md): the sinks spent
more CPU decoding than ingest spent parsing. Here a sample is 20 bytes of packed columns that
`array` reads at C speed, and each series' name and labels come once per batch, last in the
record, so a reader that has seen every series id of the batch before stops reading before them.

The wire stays plain Avro (any Avro reader reads a whole SeriesBatch with `avro/series_batch.avsc`);
`SeriesBatchReader` only reads a prefix of it when it can. https://avro.apache.org/docs/1.11.1/specification/#binary-encoding
"""

from __future__ import annotations

import io
import sys
from array import array
from dataclasses import dataclass
from typing import Any, cast

import fastavro

from schemas.batch_writer import PREFIX_CACHE_MAX, zigzag
from schemas.records import MetricBatch, Sample

_BIG_ENDIAN = sys.byteorder == "big"
NAMES_CACHE_MAX = 2_000_000  # series a reader remembers (~300 B each with 10 labels): 100k series use 1/20 of it


def _column(typecode: str, items) -> bytes:
    """A packed little-endian column, length-prefixed as an Avro `bytes`."""
    packed = array(typecode, items)
    if _BIG_ENDIAN:
        packed.byteswap()
    raw = packed.tobytes()
    return zigzag(len(raw)) + raw


def _string(text: str) -> bytes:
    raw = text.encode()
    return zigzag(len(raw)) + raw


def series_name_bytes(name: str, labels: dict[str, str]) -> bytes:
    """The Avro body of one SeriesName record."""
    out = [_string(name)]
    if labels:
        out.append(zigzag(len(labels)))
        out.extend(_string(k) + _string(v) for k, v in labels.items())
    out.append(b"\x00")
    return b"".join(out)


class SeriesBatchWriter:
    """Encodes a partition's samples (MetricBatch, the in-memory shape) as a SeriesBatch body."""

    def __init__(self) -> None:
        self._names: dict[int, bytes] = {}

    def body(self, batch: MetricBatch) -> bytes:
        """The Avro binary body of the SeriesBatch holding `batch`'s samples."""
        names = self._names
        if len(names) > PREFIX_CACHE_MAX:
            names.clear()
        index_of: dict[int, int] = {}
        ids: list[int] = []
        defs: list[bytes] = []
        sample_series: list[int] = []
        timestamps: list[int] = []
        values: list[float] = []
        for sample in batch["samples"]:
            sid = sample["series_id"]
            i = index_of.get(sid)
            if i is None:
                i = index_of[sid] = len(ids)
                ids.append(sid)
                encoded = names.get(sid)
                if encoded is None:
                    encoded = names[sid] = series_name_bytes(sample["name"], sample["labels"])
                defs.append(encoded)
            sample_series.append(i)
            timestamps.append(sample["timestamp_ms"])
            values.append(sample["value"])
        parts = [zigzag(batch["partition"]), _string(batch["source"]), zigzag(batch["accepted_at_ms"]),
                 _column("q", ids), _column("I", sample_series), _column("q", timestamps), _column("d", values)]
        if defs:
            parts.append(zigzag(len(defs)))
            parts.extend(defs)
        parts.append(b"\x00")
        return b"".join(parts)


@dataclass(slots=True)
class Columns:
    """One SeriesBatch as columns; `names[series_ids[k]]` is (name, labels) of every series in it."""

    partition: int
    source: str
    accepted_at_ms: int
    series_ids: array  # int64 per series
    sample_series: array  # uint32 per sample
    timestamps_ms: array  # int64 per sample
    values: array  # float64 per sample
    names: dict[int, tuple[str, dict[str, str]]]

    def __len__(self) -> int:
        return len(self.values)

    def samples(self) -> list[Sample]:
        """The samples as Sample dicts (labels dicts shared per series: don't change them in place)."""
        names, ids = self.names, self.series_ids
        out: list[Sample] = []
        append = out.append
        for i, ts, value in zip(self.sample_series, self.timestamps_ms, self.values):
            sid = ids[i]
            name, labels = names[sid]
            append({"series_id": sid, "name": name, "labels": labels, "value": value, "timestamp_ms": ts})
        return out


def _unpacked(typecode: str, raw: bytes | memoryview) -> array:
    packed = array(typecode)
    packed.frombytes(raw)
    if _BIG_ENDIAN:
        packed.byteswap()
    return packed


def columns_from_record(record: dict[str, Any]) -> Columns:
    """Columns of a SeriesBatch that fastavro decoded (a body of an older schema version)."""
    ids = _unpacked("q", record["series_ids"])
    return Columns(record["partition"], record["source"], record["accepted_at_ms"], ids,
                   _unpacked("I", record["sample_series"]), _unpacked("q", record["timestamps_ms"]),
                   _unpacked("d", record["values"]),
                   {sid: (named["name"], named["labels"]) for sid, named in zip(ids, record["series"])})


class SeriesBatchReader:
    """Reads SeriesBatch bodies of the current schema; remembers each series' name and labels by id."""

    _SERIES_ARRAY = fastavro.parse_schema({"type": "array", "items": {
        "type": "record", "name": "SeriesName",
        "fields": [{"name": "name", "type": "string"}, {"name": "labels", "type": {"type": "map", "values": "string"}}]}})

    def __init__(self) -> None:
        self.names: dict[int, tuple[str, dict[str, str]]] = {}

    def columns(self, body: bytes | memoryview) -> Columns:
        """Decode one body; series names are read only when some id of the batch is new to this reader."""
        view = memoryview(body)
        pos = 0

        def varint() -> int:
            nonlocal pos
            shift = result = 0
            while True:
                byte = view[pos]
                pos += 1
                result |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    return (result >> 1) ^ -(result & 1)
                shift += 7

        def chunk() -> memoryview:
            nonlocal pos
            size = varint()
            if size < 0 or pos + size > len(view):
                raise ValueError("truncated field")
            start, pos = pos, pos + size
            return view[start:pos]

        partition, source, accepted_at_ms = varint(), bytes(chunk()).decode(), varint()
        ids, sample_series = _unpacked("q", chunk()), _unpacked("I", chunk())
        timestamps, values = _unpacked("q", chunk()), _unpacked("d", chunk())
        if not len(sample_series) == len(timestamps) == len(values):
            raise ValueError(f"columns of different lengths: {len(sample_series)} series indexes, "
                             f"{len(timestamps)} timestamps, {len(values)} values")
        if sample_series and max(sample_series) >= len(ids):
            raise ValueError(f"a sample names series {max(sample_series)} of {len(ids)}")
        names = self.names
        if any(sid not in names for sid in ids):
            self._learn(ids, view[pos:])
        return Columns(partition, source, accepted_at_ms, ids, sample_series, timestamps, values, self.names)

    def _learn(self, ids: array, rest: memoryview) -> None:
        # fastavro types any datum as its union of Avro values; an array schema reads as a list
        defs = cast("list[dict[str, Any]]", fastavro.schemaless_reader(io.BytesIO(rest), self._SERIES_ARRAY))
        if len(defs) != len(ids):
            raise ValueError(f"{len(ids)} series ids but {len(defs)} series names")
        if len(self.names) + len(ids) > NAMES_CACHE_MAX:
            self.names = {}  # a new dict: Columns read earlier keep theirs while they are in use
        for sid, named in zip(ids, defs):
            self.names[sid] = (named["name"], named["labels"])
