"""The sent-ledger in Redis: a page goes out once per (receiver, dedup key, action, sequence, event time)."""

from __future__ import annotations

import redis

from schemas.records import Notification

SENT_TTL_S = 7 * 86_400
CLAIM_TTL_S = 120  # longer than one notification's whole retry sequence may take


class SentLedger:
    """Checks before sending, claims while sending (so replicas don't race), records after."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def key(self, note: Notification) -> str:
        # The event time keeps episodes apart: sequences restart at 1 when the broker loses the
        # streams' state (the in-memory embedded broker on a restart), this ledger doesn't.
        return (f"{self._prefix}:sent:{note['receiver']}:{note['dedup_key']}:{note['action']}:"
                f"{note['sequence']}:{note['event_time_ms']}")

    def was_sent(self, note: Notification) -> bool:
        return self._redis.get(self.key(note)) == b"sent"

    def claim(self, note: Notification) -> bool:
        """True when this process may send it now (nobody sent it and nobody is sending it)."""
        return bool(self._redis.set(self.key(note), b"sending", nx=True, ex=CLAIM_TTL_S))

    def mark_sent(self, note: Notification) -> None:
        self._redis.set(self.key(note), b"sent", ex=SENT_TTL_S)

    def release(self, note: Notification) -> None:
        """Give up a claim without sending (permanent failure): a later redelivery may try again."""
        key = self.key(note)
        if self._redis.get(key) == b"sending":
            self._redis.delete(key)
