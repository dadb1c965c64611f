"""Reading a whole compacted topic (rules, silences) into memory in a background thread.

Every worker needs every record of such a topic, whatever partition it is on, so the feed is a
plain assigned consumer reading from the beginning, not a member of the worker's group. The
newest record of an id wins, as compaction would keep it: the API publishes in commit order and
republishes Postgres' latest version of everything at start, because the embedded broker
forgets topics on restart. Deletes are records (`deleted: true`), since the embedded broker
never returns tombstones (docs/stack.md). After a broker error the feed reads again from the
beginning; records apply idempotently.

Subclasses say which records they can use (`accept`) and what to build from the current ones
(`rebuild`); the base owns the consumer, the thread, `caught_up` and the reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from kernel.kafka import FETCH_WAIT_MS
from schemas import codec

log = logging.getLogger(__name__)
RETRY_S = 2.0
BATCH = 500
R = TypeVar("R", bound=Mapping[str, object])  # a record TypedDict with an "id"


class CompactedFeed(Generic[R]):
    """Keeps `records` (newest per id) current from one compacted topic; `caught_up` once it was read."""

    def __init__(self, bootstrap: str, topic: str, decoder: codec.Codec[R], name: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._decoder = decoder
        self._name = name  # "rules": the thread, the consumer's group id and the logs say which feed
        self.records: dict[str, R] = {}
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-feed", daemon=True)

    def start(self) -> None:
        """Start reading in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reading and wait for the thread (at most 10 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def apply(self, record: R) -> bool:
        """Take one record (the newest on the topic wins, as compaction keeps it); True on a change."""
        if self.records.get(record["id"]) == record:
            return False
        if not self.accept(record):
            return False
        self.records[record["id"]] = record
        return True

    def accept(self, record: R) -> bool:
        """Whether a record can be used; a subclass logs why not and answers False."""
        return True

    def rebuild(self) -> object:
        """Build what readers use from `records` and return it; called after each batch that changed something."""
        raise NotImplementedError

    def describe(self) -> str:
        """What the feed holds now, for its log lines ("12 rules")."""
        return f"{len(self.records)} {self._name}"

    def _run(self) -> None:
        """Read the topic; after a broker error, start again from the beginning."""
        while not self._stop.is_set():
            try:
                self._read()
            except (KafkaException, KeyError) as exc:
                log.warning("reading the %s topic failed, retrying in %.0f s: %s", self._name, RETRY_S, exc)
                self._stop.wait(RETRY_S)

    def _read(self) -> None:
        consumer = Consumer({"bootstrap.servers": self._bootstrap, "group.id": f"vigil-{self._name}-feed",
                             "enable.auto.commit": False, "fetch.wait.max.ms": FETCH_WAIT_MS})
        try:
            metadata = consumer.list_topics(self._topic, timeout=10).topics[self._topic]
            partitions = [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
            consumer.assign(partitions)
            # Tansu's high watermark is the last batch's base offset + 1 (docs/stack.md): reaching it means
            # the last batch is in the fetch being read.
            ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
            while not self._stop.is_set():
                messages = consumer.consume(BATCH, timeout=0.25)
                changed = False
                for message in messages:
                    if message.error() or message.value() is None:
                        continue
                    try:
                        changed |= self.apply(self._decoder.decode(message.value()))
                    except codec.DecodeError as exc:
                        log.error("unreadable record on %s at offset %d: %s", self._topic, message.offset(), exc)
                if changed:
                    self.rebuild()
                    log.info("%s changed: %s now", self._name, self.describe())
                if not messages and not self.caught_up.is_set():
                    positions = consumer.position(partitions)
                    if all(tp.offset >= ends[tp.partition] or ends[tp.partition] <= 0 for tp in positions):
                        log.info("%s topic read: %s", self._name, self.describe())
                        self.caught_up.set()
        finally:
            consumer.close()
