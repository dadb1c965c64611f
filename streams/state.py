"""Alert state kept in a Faust table (changelog-backed), with a live in-memory view.

Every sample may change an alert's state (window points, model, last arrival), but writing the
changelog per sample would cap a worker at ~1,500 samples/s (docs/stack.md). So changes are kept live
in memory and checkpointed: a lifecycle transition is written once its AlertEvent was
acknowledged, every other change just before the worker commits its input offsets (and, if
`checkpoint_s` is set, at least that often). A successor restores the checkpoint and replays
from the committed offset; replayed samples are recognised by their timestamps. A state whose
AlertEvent is still in flight is held back from checkpoints, so a restored state never claims a
transition whose event was lost.

Writes name their changelog partition explicitly (the input partition the alert lives on), so
the timer can write too, outside any stream event.

Each burst of writes ends with a one-record "seal" batch per partition. Tansu reports a
partition's high watermark as the last batch's base offset + 1 (docs/stack.md), and Faust's recovery
reads a changelog only up to that watermark: without the seal, the states after the first one
of the last batch were silently missing after a restart (measured: a 3-sample window came back
with 2).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import faust
import orjson
from aiokafka import AIOKafkaProducer

from streams import anomaly
from streams.evaluate import AlertState

SEAL_KEY = "__seal__"


def encode(state: AlertState) -> bytes:
    """The JSON form of a state (the anomaly model as its three numbers)."""
    model = state.get("m")
    if model is not None and not isinstance(model, list):
        state = {**state, "m": anomaly.dump(model)}
    return orjson.dumps(state)


def decode(raw: bytes | dict) -> AlertState:
    """A state from its JSON form (Faust's recovery hands the changelog value over already parsed)."""
    state = AlertState(**(raw if isinstance(raw, dict) else orjson.loads(raw)))
    if isinstance(state.get("m"), list):
        state["m"] = anomaly.load(state["m"])
    if "val" in state and state["val"] is None:
        state["val"] = math.nan  # JSON has no NaN: orjson wrote null
    return state


class StateStore:
    """Alert states of one table: get, mark changed, checkpoint; an index of keys per rule."""

    def __init__(self, table: faust.Table, checkpoint_s: float | None, clock: Callable[[], float] = time.monotonic):
        self.table = table
        self.checkpoint_s = checkpoint_s
        self.clock = clock
        self.live: dict[str, AlertState] = {}
        self.partition_of: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._held: set[str] = set()
        self._last_checkpoint = clock()
        self._outbox: dict[int, dict[str, bytes]] = {}  # written, not yet sent: partition → key → value
        self._sealing = asyncio.Lock()
        self._by_rule: dict[str, set[str]] | None = None
        self.generation = 0  # counts resets: a reader's indexes of the live view are stale when it moved

    def reset(self) -> None:
        """Forget the live view (partitions moved): the next read goes to the table again."""
        self.live.clear()
        self._dirty.clear()
        self._by_rule = None
        self.generation += 1

    def get(self, key: str) -> AlertState | None:
        """The live state of an alert, loading it from the table the first time."""
        state = self.live.get(key)
        if state is None:
            raw = self.table.get(key)
            if raw is not None:
                state = self.live[key] = decode(raw)
        return state

    def put(self, key: str, partition: int, state: AlertState) -> None:
        """Track a new alert state (it is written at the next checkpoint)."""
        self.live[key] = state
        self.partition_of[key] = partition
        if self._by_rule is not None:
            self._by_rule.setdefault(key.split("/", 1)[0], set()).add(key)
        self.changed(key)

    def changed(self, key: str) -> None:
        """Note that `key`'s state changed in memory."""
        self._dirty.add(key)

    def hold(self, key: str) -> None:
        """Keep `key` out of checkpoints until `write` (its AlertEvent is being sent)."""
        self._held.add(key)

    def write(self, key: str) -> None:
        """Write `key`'s state to the changelog now (after a transition was acknowledged)."""
        self._held.discard(key)
        state = self.live.get(key)
        partition = self.partition(key)
        if state is None or partition is None:
            return
        value = encode(state)
        self.table.data[key] = value
        self._outbox.setdefault(partition, {})[key] = value
        self._dirty.discard(key)

    def checkpoint(self, force: bool = False) -> int:
        """Every `checkpoint_s` (or now, with force): write every state changed since the last time."""
        now = self.clock()
        if not force and (self.checkpoint_s is None or now - self._last_checkpoint < self.checkpoint_s):
            return 0
        self._last_checkpoint = now
        due = [key for key in self._dirty if key not in self._held]
        for key in due:
            self.write(key)
        return len(due)

    async def seal(self, producer: AIOKafkaProducer) -> None:
        """Send the writes since the last seal, then a one-record seal batch per partition (see above).

        Through aiokafka's batch API: Faust's per-record send costs ~25 µs of Python per state, a
        third of a worker's time when thousands of window states are checkpointed at a commit.
        """
        if not self._outbox:
            return
        async with self._sealing:  # the commit hook and the agents both seal: never interleave two
            await self._send(producer)

    async def _send(self, producer: AIOKafkaProducer) -> None:
        outbox, self._outbox = self._outbox, {}
        topic = self.table.changelog_topic.get_topic_name()
        sent = []
        for partition, records in outbox.items():
            batch = producer.create_batch()
            for key, value in records.items():
                raw_key = orjson.dumps(key)  # the table's keys are JSON
                if batch.append(key=raw_key, value=value, timestamp=None) is None:
                    sent.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=raw_key, value=value, timestamp=None)
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
        seals = []
        for partition in outbox:
            batch = producer.create_batch()
            batch.append(key=orjson.dumps(SEAL_KEY), value=orjson.dumps({"sealed_at": time.time()}), timestamp=None)
            seals.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*seals)

    def export(self) -> list[tuple[int, str, bytes]]:
        """Every state this worker holds as (changelog partition, key, value), live changes included.

        A state whose AlertEvent is in flight is given as last written: that event may never reach
        anyone, and a restored state must never claim a transition nobody saw.
        """
        out = []
        for key in self._all_keys():
            partition = self.partition(key)
            if partition is None:
                continue
            state = None if key in self._held else self.live.get(key)
            value = encode(state) if state is not None else self.table.data.get(key)
            if value is not None:
                out.append((partition, key, value))
        return out

    def rewrite_all(self) -> int:
        """Queue every state this worker holds for the changelog again (the broker lost the old one)."""
        states = self.export()
        for partition, key, value in states:
            self.table.data[key] = value
            self._outbox.setdefault(partition, {})[key] = value
            self._dirty.discard(key)
        return len(states)

    def keys_of(self, rule_id: str) -> set[str]:
        """Keys of the alerts one rule has in this worker's partitions."""
        if self._by_rule is None:
            index: dict[str, set[str]] = {}
            for key in self._all_keys():
                index.setdefault(key.split("/", 1)[0], set()).add(key)
            self._by_rule = index
        return self._by_rule.get(rule_id, set())

    def evict(self, keep: Callable[[str, AlertState], bool]) -> int:
        """Drop from memory every written state `keep` refuses (the changelog keeps it until a restart reads it)."""
        gone = [key for key, state in self.live.items()
                if key not in self._dirty and key not in self._held and not keep(key, state)]
        for key in gone:
            del self.live[key]
            self.table.data.pop(key, None)
            self.partition_of.pop(key, None)
            if self._by_rule is not None:
                self._by_rule.get(key.split("/", 1)[0], set()).discard(key)
        return len(gone)

    def keys(self) -> set[str]:
        """Every key this worker holds (restored from the changelog or created since)."""
        return self._all_keys()

    def _all_keys(self) -> set[str]:
        return (set(self.table.data.keys()) | set(self.live)) - {SEAL_KEY}

    def partition(self, key: str) -> int | None:
        """The changelog partition `key` lives on (None: unknown here)."""
        partition = self.partition_of.get(key)
        if partition is None:
            # Restored from the changelog: the memory store remembers which partition it came from.
            partition = getattr(self.table.data, "_key_partition", {}).get(key)
            if partition is not None:
                self.partition_of[key] = partition
        return partition
