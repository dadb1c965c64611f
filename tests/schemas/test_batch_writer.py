"""The MetricBatch writer gives fastavro's bytes exactly, for any batch (property-based)."""

from __future__ import annotations

import io
import math
import struct

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codec
from schemas.batch_writer import BatchWriter, zigzag
from schemas.series_id import series_id

LONGS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.text(max_size=30)
LABELS = st.dictionaries(TEXT, TEXT, max_size=12)


def fastavro_body(batch) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, codec.metric_batch().schema, batch)
    return out.getvalue()


@st.composite
def batches(draw):
    samples = []
    for _ in range(draw(st.integers(0, 6))):  # a series id is the hash of name and labels, as ingest makes it
        name, labels = draw(TEXT), draw(LABELS)
        samples.append({"series_id": series_id(name, labels), "name": name, "labels": labels,
                        "value": draw(st.floats(allow_nan=True, allow_infinity=True)), "timestamp_ms": draw(LONGS)})
    return {"partition": draw(st.integers(-(2**31), 2**31 - 1)), "source": draw(TEXT),
            "accepted_at_ms": draw(LONGS), "samples": samples}


WRITER = BatchWriter()  # one for every example, so series bytes cached by earlier examples are reused


@settings(max_examples=300)
@given(batches())
def test_any_batch_encodes_as_fastavro_does(batch):
    assert WRITER.body(batch) == fastavro_body(batch)


def test_a_series_seen_before_reuses_its_bytes_and_still_round_trips():
    writer = BatchWriter()
    labels = {"host": "web-1", "job": "node"}
    sid = series_id("up", labels)
    first = {"partition": 0, "source": "t", "accepted_at_ms": 1,
             "samples": [{"series_id": sid, "name": "up", "labels": labels, "value": 1.0, "timestamp_ms": 5}]}
    second = {**first, "samples": [{**first["samples"][0], "value": 0.0, "timestamp_ms": 6}]}
    assert writer.body(first) == fastavro_body(first) and writer.body(second) == fastavro_body(second)
    c = codec.metric_batch()
    assert c.decode(c.encode(second)) == second


def test_staleness_nan_keeps_its_bit_pattern():
    stale = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
    batch = {"partition": 0, "source": "t", "accepted_at_ms": 0,
             "samples": [{"series_id": 1, "name": "x", "labels": {}, "value": stale, "timestamp_ms": 0}]}
    body = BatchWriter().body(batch)
    assert body == fastavro_body(batch) and math.isnan(stale)
    assert struct.pack("<Q", 0x7FF0000000000002) in body


def test_zigzag_matches_the_avro_spec():
    assert [zigzag(n) for n in (0, -1, 1, -2, 2, 63, -64, 64)] == [
        b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x7e", b"\x7f", b"\x80\x01"]
