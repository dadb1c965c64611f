"""Avro single-object encoding (magic C3 01 + CRC-64-AVRO fingerprint + body) with fastavro.

https://avro.apache.org/docs/1.11.1/specification/#single-object-encoding
A reader resolves the writer schema from the fingerprint among every version it knows
(the current `avro/NAME.avsc` and `history/NAME/v*.avsc`) and reads with the current one.
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Generic, TypeVar, cast

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas import records
from schemas.batch_writer import BatchWriter
from schemas.series_batch import Columns, SeriesBatchReader, SeriesBatchWriter, columns_from_record

MAGIC = b"\xc3\x01"
HEADER_LEN = len(MAGIC) + 8

T = TypeVar("T")


class DecodeError(ValueError):
    """A payload that is not a single-object-encoded record of a known schema version."""


def _schema_dir() -> Traversable:
    return resources.files("schemas")


def load_schema(name: str) -> dict[str, Any]:
    """The current schema `avro/<name>.avsc` as JSON."""
    return json.loads(_schema_dir().joinpath("avro", f"{name}.avsc").read_text())


def schema_history(name: str) -> list[dict[str, Any]]:
    """Every published version of a schema, oldest first (`history/<name>/v<N>.avsc`)."""
    folder = _schema_dir().joinpath("history", name)
    files = sorted(
        (f for f in folder.iterdir() if f.name.endswith(".avsc")),
        key=lambda f: int(f.name[1:].split(".")[0]),
    )
    return [json.loads(f.read_text()) for f in files]


def schema_fingerprint(schema: dict[str, Any]) -> bytes:
    """The 8-byte little-endian CRC-64-AVRO fingerprint of a schema's canonical form."""
    parsed = fastavro.parse_schema(schema, _write_hint=False)
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


class Codec(Generic[T]):
    """Encodes and decodes one record type; decodes every known version of its schema."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.schema = fastavro.parse_schema(load_schema(name))
        self.fingerprint = schema_fingerprint(load_schema(name))
        self._header = MAGIC + self.fingerprint
        self._writers = {schema_fingerprint(s): fastavro.parse_schema(s) for s in schema_history(name)}
        self._writers[self.fingerprint] = self.schema

    def encode(self, record: T) -> bytes:
        """Single-object encoding of one record."""
        out = io.BytesIO()
        out.write(self._header)
        # Vigil never uses fastavro's (name, record) tuple notation; skipping its check is ~5% faster.
        fastavro.schemaless_writer(out, self.schema, record, disable_tuple_notation=True)
        return out.getvalue()

    def decode(self, payload: bytes) -> T:
        """Read a record written with any known version of this schema, as the current version."""
        if len(payload) < HEADER_LEN or payload[:2] != MAGIC:
            raise DecodeError(f"{self.name}: not Avro single-object encoded (no C3 01 header)")
        writer = self._writers.get(bytes(payload[2:HEADER_LEN]))
        if writer is None:
            raise DecodeError(f"{self.name}: unknown writer schema fingerprint {payload[2:HEADER_LEN].hex()}")
        body = io.BytesIO(payload[HEADER_LEN:])
        try:
            # fastavro types any datum as its union of Avro values; a record schema reads as T's dict
            return cast(T, fastavro.schemaless_reader(body, writer, self.schema))
        except Exception as exc:  # fastavro raises several types for a corrupt body
            raise DecodeError(f"{self.name}: corrupt body: {exc}") from exc


class MetricBatchCodec(Codec[records.MetricBatch]):
    """vigil.metrics.v1's codec: encodes with BatchWriter (series bytes cached), decodes like any codec."""

    def __init__(self) -> None:
        super().__init__("metric_batch")
        self._writer = BatchWriter()

    def encode(self, record: records.MetricBatch) -> bytes:
        return self._header + self._writer.body(record)


class SeriesBatchCodec(Codec[records.MetricBatch]):
    """The metrics topic's codec (v2): a partition's samples in, SeriesBatch columns on the wire.

    `encode` takes the in-memory MetricBatch (a partition's samples) that ingest builds; `columns`
    is the consumers' fast path; `decode` expands to a MetricBatch for code that wants Sample dicts.
    Its caches (series bytes by id, names by id) only grow or are replaced whole, so threads may share it.
    """

    def __init__(self) -> None:
        super().__init__("series_batch")
        self._writer = SeriesBatchWriter()
        self._reader = SeriesBatchReader()

    def encode(self, record: records.MetricBatch) -> bytes:
        return self._header + self._writer.body(record)

    def columns(self, payload: bytes) -> Columns:
        """The batch as columns; a body of an older schema version is read through fastavro first."""
        if len(payload) < HEADER_LEN or payload[:2] != MAGIC:
            raise DecodeError(f"{self.name}: not Avro single-object encoded (no C3 01 header)")
        if payload[2:HEADER_LEN] != self.fingerprint:
            # The base reads the series_batch record itself, not the MetricBatch this codec's decode returns.
            return columns_from_record(cast("dict[str, Any]", super().decode(payload)))
        try:
            return self._reader.columns(memoryview(payload)[HEADER_LEN:])
        except (ValueError, IndexError, EOFError, UnicodeDecodeError) as exc:
            raise DecodeError(f"{self.name}: corrupt body: {exc}") from exc

    def decode(self, payload: bytes) -> records.MetricBatch:
        batch = self.columns(payload)
        return {"partition": batch.partition, "source": batch.source, "accepted_at_ms": batch.accepted_at_ms,
                "samples": batch.samples()}

@cache
def metric_batch() -> MetricBatchCodec:
    """Codec for the v1 metrics topic (vigil.metrics.v1: one record per sample in a batch; being retired)."""
    return MetricBatchCodec()


@cache
def series_batch() -> SeriesBatchCodec:
    """Codec for the metrics topic (vigil.metrics.v2)."""
    return SeriesBatchCodec()


@cache
def reject() -> Codec[records.Reject]:
    """Codec for the dead-letter topic."""
    return Codec("reject")


@cache
def alert_event() -> Codec[records.AlertEvent]:
    """Codec for the alerts topic."""
    return Codec("alert_event")


@cache
def notification() -> Codec[records.Notification]:
    """Codec for the notifications topic."""
    return Codec("notification")


@cache
def delivery() -> Codec[records.Delivery]:
    """Codec for the deliveries topic."""
    return Codec("delivery")


@cache
def rule() -> Codec[records.RuleRecord]:
    """Codec for the compacted rules topic."""
    return Codec("rule")


@cache
def incident_event() -> Codec[records.IncidentEvent]:
    """Codec for the incidents topic."""
    return Codec("incident_event")


@cache
def command() -> Codec[records.Command]:
    """Codec for the commands topic."""
    return Codec("command")


@cache
def silence() -> Codec[records.SilenceRecord]:
    """Codec for the compacted silences topic."""
    return Codec("silence")


SCHEMA_NAMES = ("series_batch", "metric_batch", "reject", "alert_event", "notification", "delivery", "rule", "incident_event",
                "command", "silence")
