"""Producing Vigil records in tests, through the real Kafka client and codecs (reading them: infra/topic_reader.py)."""

from __future__ import annotations

import time

from kernel.kafka import make_producer
from kernel.settings import CommonSettings
from schemas import codec
from schemas.records import Sample
from schemas.series_id import partition_for, series_id


def sample(name: str, labels: dict[str, str], value: float, ts_ms: int) -> Sample:
    """A Sample with its series id, as ingest would publish it."""
    return {"series_id": series_id(name, labels), "name": name, "labels": labels, "value": float(value),
            "timestamp_ms": ts_ms}


def produce_samples(settings: CommonSettings, samples: list[Sample]) -> None:
    """One MetricBatch per sample, on the sample's partition, acked before returning."""
    producer = make_producer(settings)
    for s in samples:
        p = partition_for(s["series_id"], settings.metrics_partitions)
        batch = {"partition": p, "source": "test", "accepted_at_ms": int(time.time() * 1000), "samples": [s]}
        producer.produce(settings.topics.metrics, codec.series_batch().encode(batch), key=str(p).encode(), partition=p)
    assert producer.flush(15) == 0
