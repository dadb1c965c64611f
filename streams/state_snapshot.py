"""A worker's states kept on disk across a restart of the whole embedded stack.

The embedded broker keeps the tables' changelogs in memory only: after `Ctrl-C` and `make up` (or
`vigil stack down` and up) every changelog is empty, and a worker starting on them would forget
every alert that is firing — and page it again. So a worker that stops writes what its tables hold
to `VIGIL_DATA_DIR/state-snapshot.json`, and a worker that starts on empty changelogs writes that
snapshot into them first, before Faust recovers its tables from them. Where the changelogs are not
empty (a broker that kept its state: Kafka in docker-compose), they are the truth and the snapshot
is set aside. A worker that was killed (SIGKILL, a crash) leaves no snapshot: its states are in the
changelogs, which the broker still has unless it restarted too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import faust
import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.state import SEAL_KEY, StateStore

log = logging.getLogger(__name__)
SNAPSHOT_FILE = "state-snapshot.json"
FORMAT = 1


def changelog_topics(app: faust.App) -> dict[str, str]:
    """Table name → its changelog topic."""
    stores: dict[str, StateStore] = app.state_stores
    return {name: store.table.changelog_topic.get_topic_name() for name, store in stores.items()}


def save(app: faust.App, data_dir: Path) -> int:
    """Write every state the worker's tables hold to the snapshot file (at a clean stop); returns how many."""
    stores: dict[str, StateStore] = app.state_stores
    tables = {name: [[p, key, value.decode()] for p, key, value in store.export()] for name, store in stores.items()}
    path = data_dir / SNAPSHOT_FILE
    partial = path.with_suffix(".partial")
    partial.write_bytes(orjson.dumps({"format": FORMAT, "written_at": time.time(), "tables": tables}))
    partial.replace(path)  # whole or not at all
    count = sum(len(states) for states in tables.values())
    log.info("wrote %d states to %s for the next start", count, path)
    return count


def restore(app: faust.App, data_dir: Path, bootstrap: str, partitions: int) -> int:
    """Before the worker starts: put the snapshot into empty changelogs; returns how many states went in."""
    path = data_dir / SNAPSHOT_FILE
    if not path.exists():
        return 0
    snapshot = orjson.loads(path.read_bytes())
    path.replace(path.with_suffix(".used"))  # read once: a later start must not bring back older states
    topics = changelog_topics(app)
    if snapshot.get("format") != FORMAT or not _empty(bootstrap, topics.values(), partitions):
        log.info("changelogs already hold this worker's states: the snapshot in %s is not needed", path)
        return 0
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 20,
                         "compression.type": "zstd"})
    count = 0
    for name, states in snapshot["tables"].items():
        topic = topics.get(name)
        if topic is None:
            continue
        written = set()
        for partition, key, value in states:
            producer.produce(topic, key=orjson.dumps(key), value=value.encode(), partition=partition)
            written.add(partition)
            count += 1
            if count % 10_000 == 0:
                producer.poll(0)
        for partition in written:  # Faust reads a changelog up to Tansu's high watermark: seal it (state.py)
            producer.produce(topic, key=orjson.dumps(SEAL_KEY), value=orjson.dumps({"sealed_at": time.time()}),
                             partition=partition)
    if producer.flush(30):
        raise RuntimeError("the broker did not take the state snapshot within 30 s")
    log.warning("the changelogs were empty (the broker started afresh): restored %d states written at the last "
                "clean stop (%s)", count, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snapshot["written_at"])))
    return count


def _empty(bootstrap: str, topics, partitions: int) -> bool:
    """True when every changelog is missing or holds nothing (missing ones are created)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    missing = [t for t in topics if t not in existing]
    if missing:
        futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1,
                                                config={"cleanup.policy": "compact"}) for t in missing])
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "vigil-state-snapshot"})
    try:
        for topic in topics:
            if topic in missing:
                continue
            for p in existing[topic].partitions:
                if consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] > 0:
                    return False
    finally:
        consumer.close()
    return True
