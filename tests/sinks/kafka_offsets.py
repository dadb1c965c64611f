"""Sink test plumbing: produce and learn the offsets, read a group's committed offsets and a process's metrics."""

from __future__ import annotations

import urllib.request

from confluent_kafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from kernel.kafka import make_consumer, make_producer
from kernel.settings import CommonSettings


def produce(settings: CommonSettings, topic: str, records: list[tuple[bytes, bytes | None, int | None]]
            ) -> dict[int, int]:
    """Produce (value, key, partition) records, acked; returns {partition: offset after the last one}.

    The end comes from the delivery reports: Tansu's high watermark is wrong (docs/stack.md).
    """
    ends: dict[int, int] = {}

    def delivered(err, msg) -> None:
        assert err is None, f"produce to {topic} failed: {err}"
        ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    producer = make_producer(settings)
    for value, key, partition in records:
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, value, key=key, on_delivery=delivered, **extra)
    assert producer.flush(15) == 0, "records not acked by Kafka"
    return ends


def merge_ends(*ends: dict[int, int]) -> dict[int, int]:
    """The furthest end of each partition over several `produce` calls."""
    merged: dict[int, int] = {}
    for e in ends:
        for partition, offset in e.items():
            merged[partition] = max(merged.get(partition, 0), offset)
    return merged


def committed(settings: CommonSettings, group: str, topic: str, partitions) -> dict[int, int]:
    """The group's committed offset of each partition (negative when the group committed none)."""
    consumer = make_consumer(settings, group)  # never subscribes, so it does not join the group
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in tps}


def metric(port: int, name: str, **labels: str) -> float:
    """One sample of a process's /metrics (0 when the series is not there yet)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
