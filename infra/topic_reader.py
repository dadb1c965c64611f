"""Reading a topic from its start with a consumer group of its own: for tests and benchmarks that check what
reached a topic, through the real Kafka client and the topic's codec."""

from __future__ import annotations

import time

from confluent_kafka import Consumer

from kernel.kafka import make_consumer
from kernel.settings import CommonSettings


_OPEN: list["TopicReader"] = []


def close_readers() -> None:
    """Close every reader a test left open (a consumer destroyed unclosed can crash librdkafka)."""
    while _OPEN:
        _OPEN.pop().close()


class TopicReader:
    """Reads a topic from the beginning with its own group; decodes with the topic's codec."""

    def __init__(self, settings: CommonSettings, topic: str, decoder) -> None:
        self.consumer: Consumer | None = make_consumer(settings, f"reader-{topic}-{time.monotonic_ns()}")
        _OPEN.append(self)
        # librdkafka re-checks a subscribed topic that does not exist yet only every few minutes.
        deadline = time.monotonic() + 30
        while topic not in self.consumer.list_topics(timeout=5).topics:
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} does not exist")
            time.sleep(0.2)
        self.consumer.subscribe([topic])
        self.decoder = decoder
        self.records: list = []

    def read_for(self, seconds: float) -> list:
        """Collect records for `seconds`; returns every record read so far."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._poll()
        return self.records

    def wait_for(self, predicate, timeout: float = 40.0, what: str = "records") -> list:
        """Read until `predicate(records)` holds; fail naming what was expected and what came."""
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not seen within {timeout}s; got {self.records!r}")
            self._poll()
        return self.records

    def _poll(self) -> None:
        msg = self.consumer.poll(0.2)
        if msg is not None and not msg.error():
            self.records.append(self.decoder.decode(msg.value()))

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
        if self in _OPEN:
            _OPEN.remove(self)
