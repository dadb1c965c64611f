"""The rules a worker evaluates: its optional rules file plus every live rule on the rules topic.

A background thread reads the whole compacted rules topic from the start (every worker needs
every rule, so it is a plain assigned consumer, not a member of the worker's group) and swaps
in a new RuleIndex on each change; the Faust agents read `feed.index` per batch, so a change
applies within one fetch wait, without a restart. Deletes are records with `deleted: true`
(the embedded broker never returns tombstones). The newest record of a rule wins, as compaction
would keep it: the rule store publishes in commit order, and republishes Postgres' latest
version of every rule at API start.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from infra.kafka import FETCH_WAIT_MS
from infra.settings import CommonSettings
from schemas import codec
from schemas.records import RuleRecord
from streams.rules import Rule, RuleError, RuleIndex, parse_rule

log = logging.getLogger(__name__)
RETRY_S = 2.0


def rule_of(record: RuleRecord) -> Rule:
    """The Rule a record holds, at the record's version."""
    spec = json.loads(record["spec"])
    return parse_rule({**spec, "id": record["id"], "version": record["version"]}, f"rules topic ({record['id']})")


class RulesFeed:
    """Keeps `index` current from the rules topic; `on_change` is told after each swap."""

    def __init__(self, settings: CommonSettings, file_rules: list[Rule],
                 on_change: Callable[[RuleIndex], None] | None = None) -> None:
        self._settings = settings
        self._file_rules = file_rules
        self._records: dict[str, RuleRecord] = {}
        self._on_change = on_change
        self.index = RuleIndex(file_rules)
        self.caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rules-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def apply(self, record: RuleRecord) -> bool:
        """Take one record (the newest on the topic wins, as compaction keeps it); True on a change."""
        known = self._records.get(record["id"])
        if known == record:
            return False
        if not record["deleted"]:
            try:
                rule_of(record)
            except (RuleError, ValueError) as exc:
                log.error("ignoring rule %s v%d from the rules topic: %s", record["id"], record["version"], exc)
                return False
        self._records[record["id"]] = record
        return True

    def rebuild(self) -> RuleIndex:
        """File rules, overridden by the topic's live rules of the same id, minus deleted ones."""
        rules = {r.id: r for r in self._file_rules}
        for rule_id, record in self._records.items():
            if record["deleted"]:
                rules.pop(rule_id, None)
            else:
                rules[rule_id] = rule_of(record)
        self.index = RuleIndex(rules.values())
        if self._on_change is not None:
            self._on_change(self.index)
        return self.index

    def _run(self) -> None:
        """Read the topic; after a broker error, start again from the beginning (records apply idempotently)."""
        while not self._stop.is_set():
            try:
                self._read()
            except (KafkaException, KeyError) as exc:
                log.warning("reading the rules topic failed, retrying in %.0f s: %s", RETRY_S, exc)
                self._stop.wait(RETRY_S)

    def _read(self) -> None:
        topic = self._settings.topics.rules
        consumer = Consumer({"bootstrap.servers": self._settings.kafka_bootstrap, "group.id": "vigil-rules-feed",
                             "enable.auto.commit": False, "fetch.wait.max.ms": FETCH_WAIT_MS})
        decoder = codec.rule()
        try:
            metadata = consumer.list_topics(topic, timeout=10).topics[topic]
            partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
            consumer.assign(partitions)
            # Tansu's high watermark is the last batch's base offset + 1 (STACK.md): reaching it means
            # the last batch is in the fetch being read.
            ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
            while not self._stop.is_set():
                messages = consumer.consume(500, timeout=0.25)
                changed = False
                for message in messages:
                    if message.error() or message.value() is None:
                        continue
                    try:
                        changed |= self.apply(decoder.decode(message.value()))
                    except codec.DecodeError as exc:
                        log.error("unreadable record on %s at offset %d: %s", topic, message.offset(), exc)
                if changed:
                    index = self.rebuild()
                    log.info("rules changed: %d rules now", len(index))
                if not messages and not self.caught_up.is_set():
                    positions = consumer.position(partitions)
                    if all(tp.offset >= ends[tp.partition] or ends[tp.partition] <= 0 for tp in positions):
                        log.info("rules topic read: %d rules", len(self.index))
                        self.caught_up.set()
        finally:
            consumer.close()
