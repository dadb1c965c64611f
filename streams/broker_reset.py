"""Keeping a running worker's state when the embedded broker restarts empty.

The broker forgets every topic, the changelogs of the worker's tables included, but the worker's
memory still holds every alert, absence, query-rule and incident state: an alert firing across the
restart must stay FIRING, not fire (and page) again. When the broker watch sees the broker's state
lost, the worker re-creates its changelog topics and writes every state it holds into them, so that
a later restart or takeover recovers exactly what it had.

Faust's consumer rejoins the new group by itself, but it keeps reading each partition it still owns
at its old position: with no committed offset in the new group, aiokafka's `seek_to_committed`
leaves the position as it was, and Faust drops every record below the last offset it read there
(its "read offset"). On the re-created topics offsets start again at 0, so the worker evaluated
nothing on a partition until the new records' offsets passed the old ones (seen in the broker kill
test: no page for minutes, ingest's lag watch seeing the worker creep). So the worker also rewinds
every source partition it owns to 0 and forgets Faust's bookkeeping of what it read and acked there.
"""

from __future__ import annotations

import asyncio
import logging

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.state import StateStore

log = logging.getLogger(__name__)
REWRITE_TIMEOUT_S = 60.0


def rewrite_changelogs(app: faust.App, bootstrap: str, partitions: int) -> None:
    """Re-create the tables' changelog topics, then write every held state to them (from the watch's thread)."""
    stores: dict[str, StateStore] = app.state_stores
    topics = [store.table.changelog_topic.get_topic_name() for store in stores.values()]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1,
                                            config={"cleanup.policy": "compact"}) for t in topics],
                                  operation_timeout=10)
    for future in created.values():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    rewound = asyncio.run_coroutine_threadsafe(_rewind_sources(app, set(topics)), app.loop).result(REWRITE_TIMEOUT_S)
    log.warning("the broker restarted empty: reading %d partition(s) of its re-created topics from their start",
                len(rewound))
    done = asyncio.run_coroutine_threadsafe(_rewrite(app, stores), app.loop)
    counts = done.result(timeout=REWRITE_TIMEOUT_S)
    log.warning("the broker restarted empty: wrote the %s this worker holds to its new changelogs",
                ", ".join(f"{n} {name}" for name, n in counts.items()))


async def _rewind_sources(app: faust.App, changelogs: set[str]) -> list:
    """Seek every owned partition of the agents' topics to 0 and clear what Faust remembers of the old ones."""
    consumer = app.consumer
    rewound = []
    for tp in consumer.assignment():
        if tp.topic in changelogs:
            continue  # the tables' own: read by recovery, not by the agents
        await consumer.seek(tp, 0)  # Faust's seek also forgets the read offset (0 → None)
        consumer._committed_offset[tp] = None  # private, but nothing public resets them (faust-streaming 0.11)
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._gap.pop(tp, None)
        rewound.append(tp)
    return rewound


async def _rewrite(app: faust.App, stores: dict[str, StateStore]) -> dict[str, int]:
    counts = {name: store.rewrite_all() for name, store in stores.items()}
    for store in stores.values():
        await store.seal(app.producer._producer)  # Faust's aiokafka producer, as the checkpoints use
    return counts
