"""Noticing a broker that forgot Vigil's topics, and healing from it before anyone has to.

The embedded broker keeps everything in memory (docs/stack.md): after it restarts, every topic,
record and committed offset is gone, and clients that stayed connected stall on topics that no
longer exist. Each Vigil process runs one BrokerWatch. Every few seconds it describes the topics
the process uses. A missing topic is re-created with its partition count and config (idempotent:
every process may race to do it). A topic whose id changed was re-created since the last look —
by this process or another one — so the broker lost its state: the watch then tells the
process, which rebuilds what the lost state broke (producers, consumers, republished topics).
Comparing ids rather than looking for missing topics matters: the first process to notice
re-creates every topic, and the others must still notice.

The watch also answers "is the broker usable now?" so a /healthz can tell the truth while it
is gone: reachable, and every topic present.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 2.0  # how soon a lost broker state is noticed
METADATA_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class BrokerStatus:
    """What the last look at the broker found."""

    reachable: bool
    missing: tuple[str, ...]  # topics this process needs that the broker doesn't have
    resets: int  # how many times this process healed from a broker that lost its state
    error: str = ""

    @property
    def healthy(self) -> bool:
        return self.reachable and not self.missing

    def describe(self) -> str:
        """One line for a /healthz body."""
        if not self.reachable:
            return f"unreachable: {self.error}"
        if self.missing:
            return f"topics missing: {', '.join(self.missing[:5])}"
        return "ok"


class BrokerWatch:
    """Polls the ids of a process's topics; re-creates missing ones, runs `on_reset` callbacks when ids change."""

    def __init__(self, bootstrap: str, topics: Iterable[str], ensure_topics: Callable[[], None],
                 interval_s: float = WATCH_INTERVAL_S) -> None:
        self._admin = AdminClient({"bootstrap.servers": bootstrap})
        self._topics = tuple(topics)
        self._ensure_topics = ensure_topics
        self._interval_s = interval_s
        self._callbacks: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)
        self.status = BrokerStatus(reachable=True, missing=(), resets=0)
        self._ids: dict[str, str] = {}  # topic → its id when last seen

    def on_reset(self, callback: Callable[[], None]) -> None:
        """Run `callback` (on the watch's thread) once the broker is found to have lost its state."""
        self._callbacks.append(callback)

    def start(self) -> "BrokerWatch":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=METADATA_TIMEOUT_S + 1)

    def check(self) -> BrokerStatus:
        """Look once; heal if the broker lost its state. Returns (and keeps) what it found."""
        resets = self.status.resets
        try:
            ids, missing = self._describe()
            if missing:
                log.warning("the broker lacks %d of this process's topics (%s); re-creating them",
                            len(missing), ", ".join(missing[:5]))
                self._ensure_topics()
                ids, missing = self._describe()
        except Exception as exc:  # KafkaException, a timeout: the broker is not there (or not yet whole)
            self.status = BrokerStatus(reachable=False, missing=(), resets=resets, error=str(exc))
            return self.status
        if missing:
            self.status = BrokerStatus(reachable=True, missing=missing, resets=resets)
            return self.status
        renewed = [t for t, topic_id in ids.items() if self._ids.get(t, topic_id) != topic_id]
        self._ids = ids
        if renewed:
            resets += 1
            log.warning("the broker restarted and forgot its state (%d topics are new: %s); healing",
                        len(renewed), ", ".join(renewed[:5]))
            started = time.monotonic()
            for callback in self._callbacks:
                try:
                    callback()
                except Exception:  # one broken listener must not stop the others from healing
                    log.exception("healing after the broker restart failed in %r", callback)
            log.warning("healed from the broker restart in %.1f s (reset %d of this process)",
                        time.monotonic() - started, resets)
        self.status = BrokerStatus(reachable=True, missing=(), resets=resets)
        return self.status

    def _describe(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """Each present topic's id, and the topics the broker doesn't know."""
        futures = self._admin.describe_topics(TopicCollection(list(self._topics)),
                                              request_timeout=METADATA_TIMEOUT_S)
        ids: dict[str, str] = {}
        missing: list[str] = []
        for topic, future in futures.items():
            try:
                ids[topic] = str(future.result().topic_id)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                missing.append(topic)
        return ids, tuple(missing)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.check()


__all__ = ["BrokerStatus", "BrokerWatch", "WATCH_INTERVAL_S"]
