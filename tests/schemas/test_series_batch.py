"""SeriesBatch (vigil.metrics.v2): what ingest writes is what any Avro reader reads, and Vigil's fast reader agrees."""

from __future__ import annotations

import io
import math
import struct

import fastavro
import pytest

from schemas import codec
from schemas.series_batch import SeriesBatchReader
from schemas.series_id import series_id


def _sample(name, labels, value, ts):
    return {"series_id": series_id(name, labels), "name": name, "labels": labels, "value": value, "timestamp_ms": ts}


SAMPLES = [
    _sample("cpu", {"host": "a", "cpu": "0"}, 1.5, 1_700_000_000_000),
    _sample("cpu", {"host": "b", "cpu": "0"}, -2.0, 1_700_000_000_001),
    _sample("cpu", {"host": "a", "cpu": "0"}, math.inf, 1_700_000_000_002),  # the same series again
    _sample("up", {}, 0.0, -5),  # no labels, a timestamp before the epoch
    _sample("temp", {"room": "ü \\ \n ,="}, 1e300, 2**62),
]
BATCH = {"partition": 7, "source": "remote_write", "accepted_at_ms": 1_700_000_000_999, "samples": SAMPLES}


def test_any_avro_reader_reads_the_columns_and_the_series_names():
    payload = codec.SeriesBatchCodec().encode(BATCH)
    record = fastavro.schemaless_reader(io.BytesIO(payload[codec.HEADER_LEN:]),
                                        fastavro.parse_schema(codec.load_schema("series_batch")))
    ids = struct.unpack(f"<{len(record['series_ids']) // 8}q", record["series_ids"])
    index = struct.unpack(f"<{len(SAMPLES)}I", record["sample_series"])
    stamps = struct.unpack(f"<{len(SAMPLES)}q", record["timestamps_ms"])
    values = struct.unpack(f"<{len(SAMPLES)}d", record["values"])
    assert len(ids) == 4 == len(record["series"]), "each series is named once per batch"
    rebuilt = [(record["series"][i]["name"], record["series"][i]["labels"], ids[i], v, t)
               for i, t, v in zip(index, stamps, values)]
    assert rebuilt == [(s["name"], s["labels"], s["series_id"], s["value"], s["timestamp_ms"]) for s in SAMPLES]


def test_the_fast_reader_gives_back_every_sample_in_order():
    c = codec.SeriesBatchCodec()
    assert c.decode(c.encode(BATCH)) == BATCH
    columns = c.columns(c.encode(BATCH))
    assert (columns.partition, columns.source, columns.accepted_at_ms, len(columns)) == (7, "remote_write",
                                                                                       1_700_000_000_999, 5)


def test_a_reader_that_knows_the_series_skips_their_names_and_a_new_reader_learns_them():
    writer = codec.SeriesBatchCodec()
    first = writer.encode(BATCH)
    reader = SeriesBatchReader()
    reader.columns(memoryview(first)[codec.HEADER_LEN:])
    # Names made unreadable: a reader that knows every id never looks at them.
    known_ids_only = first[:-1] + b"\xff"
    again = reader.columns(memoryview(known_ids_only)[codec.HEADER_LEN:])
    assert [s["labels"] for s in again.samples()] == [s["labels"] for s in SAMPLES]
    with pytest.raises(Exception):
        SeriesBatchReader().columns(memoryview(known_ids_only)[codec.HEADER_LEN:])


def test_an_empty_batch_round_trips():
    c = codec.SeriesBatchCodec()
    empty = {"partition": 0, "source": "statsd", "accepted_at_ms": 1, "samples": []}
    assert c.decode(c.encode(empty)) == empty


@pytest.mark.parametrize("cut", [11, 14, 30, -3])
def test_a_truncated_or_corrupt_body_is_a_decode_error(cut):
    c = codec.SeriesBatchCodec()
    payload = c.encode(BATCH)
    with pytest.raises(codec.DecodeError, match="series_batch"):
        codec.SeriesBatchCodec().columns(payload[:cut])


def test_columns_of_different_lengths_are_refused():
    c = codec.SeriesBatchCodec()
    record = {"partition": 0, "source": "x", "accepted_at_ms": 0, "series_ids": struct.pack("<q", 1),
              "sample_series": struct.pack("<2I", 0, 0), "timestamps_ms": struct.pack("<q", 1),
              "values": struct.pack("<2d", 1, 2), "series": [{"name": "m", "labels": {}}]}
    out = io.BytesIO()
    out.write(codec.MAGIC + c.fingerprint)
    fastavro.schemaless_writer(out, c.schema, record)
    with pytest.raises(codec.DecodeError, match="different lengths"):
        c.columns(out.getvalue())
    record.update(sample_series=struct.pack("<I", 3), values=struct.pack("<d", 1))
    out = io.BytesIO()
    out.write(codec.MAGIC + c.fingerprint)
    fastavro.schemaless_writer(out, c.schema, record)
    with pytest.raises(codec.DecodeError, match="names series 3 of 1"):
        c.columns(out.getvalue())
