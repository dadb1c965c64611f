"""The silences a worker applies: every silence on the compacted silences topic, kept in a SilenceIndex.

Read like the rules (streams/compacted_feed.py): the API saves each change in Postgres and
publishes it; every worker reads the whole topic and swaps in a new index on each change, so a
silence created or expired through the API applies within about a second. A silence expired
through the API is a record with `deleted: true` (and `ends_at` = the time of expiry): it leaves
the index at once. Silences that ended long ago leave it at the next change, so the index does
not grow with every silence ever made (Postgres keeps them all).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kernel.settings import CommonSettings
from schemas import codec
from schemas.records import SilenceRecord
from streams.compacted_feed import CompactedFeed
from kernel.alerting.silences import SilenceIndex, silence_of
from kernel.matchers import MatcherError

log = logging.getLogger(__name__)
# A late alert transition (event time up to VIGIL_ALLOWED_LATENESS_S behind) may still be checked
# against a silence that covered it; an hour is far beyond any lateness a worker accepts.
EXPIRED_KEPT_MS = 3600 * 1000


def _wall_ms() -> int:
    return int(time.time() * 1000)


class SilencesFeed(CompactedFeed[SilenceRecord]):
    """Keeps `index` current from the silences topic; `on_change` is told after each swap."""

    def __init__(self, settings: CommonSettings, on_change: Callable[[SilenceIndex], None] | None = None,
                 now_ms: Callable[[], int] = _wall_ms) -> None:
        super().__init__(settings.kafka_bootstrap, settings.topics.silences, codec.silence(), "silences")
        self._on_change = on_change
        self._now_ms = now_ms
        self.index = SilenceIndex()

    def silenced_by(self, labels: dict[str, str], at_ms: int) -> list[str]:
        """Ids of the silences in force at `at_ms` that match `labels` (the current index's answer)."""
        return self.index.silenced_by(labels, at_ms)

    def accept(self, record: SilenceRecord) -> bool:
        """A live silence's matchers must compile; an expired (deleted) one is always taken."""
        if record["deleted"]:
            return True
        try:
            silence_of(record)
        except MatcherError as exc:
            log.error("ignoring silence %s v%d from the silences topic: %s", record["id"], record["version"], exc)
            return False
        return True

    def rebuild(self) -> SilenceIndex:
        """A new index of the live silences that have not ended more than EXPIRED_KEPT_MS ago."""
        horizon = self._now_ms() - EXPIRED_KEPT_MS
        self.index = SilenceIndex(silence_of(r) for r in self.records.values()
                                  if not r["deleted"] and r["ends_at_ms"] > horizon)
        if self._on_change is not None:
            self._on_change(self.index)
        return self.index

    def describe(self) -> str:
        """How many silences the index holds, for the feed's log lines."""
        return f"{len(self.index)} silences"
