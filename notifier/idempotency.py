"""The sent-ledger in Redis: one send per (integration, dedup key, action, sequence, event time).

A key moves through these values (each write is atomic; the Lua scripts compare before they set):

    (absent) ─claim─► claimed:<owner>:<attempts made> ─on_wire─► sending:<owner>:<attempt> ─► sent
                          ▲            │                             │ answered, not delivered
                          └────────────┼─────── off_wire ◄───────────┘
                 release (failed) ─► (absent)        owner died while sending: the receiver may have it
                                                     ─► in_doubt (Slack, webhook), or re-sent (PagerDuty)

The owner is a per-process id whose liveness key is refreshed every LIVENESS_REFRESH_S with a
LIVENESS_TTL_S expiry, so a notifier that finds a claim of a dead process knows at once (within
LIVENESS_TTL_S) instead of waiting for the claim to expire. Claims never expire before the
sent-markers do: a claim left by a process killed mid-send must still be recognised as one.
A claim counts the attempts made, so whoever takes it over numbers its Delivery records on
(they are keyed by attempt number downstream).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from enum import Enum

import redis.asyncio as aioredis

from schemas.records import Notification

log = logging.getLogger(__name__)

SENT_TTL_S = 7 * 86_400
LIVENESS_TTL_S = 5
LIVENESS_REFRESH_S = 1.5

# Set KEYS[1] to ARGV[1] unless it exists; answers the value found (false when it was absent).
_CLAIM = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
# Compare-and-set: KEYS[1] from ARGV[1] to ARGV[2]; 1 when it was ARGV[1].
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
# Delete KEYS[1] if its value starts with ARGV[1] (our claim, whatever its attempt count).
_RELEASE = """
local found = redis.call('GET', KEYS[1])
if found and string.sub(found, 1, string.len(ARGV[1])) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class State(str, Enum):
    """Where a send stands in the ledger."""

    FREE = "free"
    CLAIMED = "claimed"  # an owner holds it; nothing on the wire yet (or its last answer came back)
    SENDING = "sending"  # an owner has a request on the wire
    SENT = "sent"
    IN_DOUBT = "in_doubt"  # its owner died mid-send; settled without re-sending


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger value, parsed: claimed → attempts made so far; sending → the attempt on the wire."""

    state: State
    owner: str = ""
    attempt: int = 0
    raw: str = ""

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Entry:
        if raw is None:
            return cls(State.FREE)
        text = raw.decode() if isinstance(raw, bytes) else raw
        state, _, rest = text.partition(":")
        owner, _, attempt = rest.rpartition(":")
        return cls(State(state), owner, int(attempt) if attempt.isdigit() else 0, text)

    @property
    def attempts_made(self) -> int:
        """Attempts with a Delivery record (an attempt on the wire when its owner died has none)."""
        return self.attempt - 1 if self.state is State.SENDING else self.attempt


def new_owner_id() -> str:
    """This process' owner id: host, pid and a random part (pids repeat across restarts and hosts)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"


class SentLedger:
    """Claims before sending (so replicas don't race), marks the wire, records the result."""

    def __init__(self, client: aioredis.Redis, prefix: str, owner: str) -> None:
        self._redis = client
        self._prefix = prefix
        self.owner = owner
        self._claim = client.register_script(_CLAIM)
        self._swap = client.register_script(_SWAP)
        self._release = client.register_script(_RELEASE)

    def key(self, integration: str, note: Notification) -> str:
        # The event time keeps episodes apart: sequences restart at 1 when the broker loses the
        # streams' state (the in-memory embedded broker on a restart), this ledger doesn't.
        return (f"{self._prefix}:sent:{integration}:{note['dedup_key']}:{note['action']}:{note['sequence']}:"
                f"{note['event_time_ms']}")

    def _liveness_key(self, owner: str) -> str:
        return f"{self._prefix}:notifier:alive:{owner}"

    async def claim(self, key: str) -> Entry:
        """Claim `key` for this process; the entry that was there (FREE when the claim is ours)."""
        return Entry.parse(await self._claim(keys=[key], args=[f"claimed:{self.owner}:0", SENT_TTL_S]))

    async def take_over(self, key: str, found: Entry) -> bool:
        """Make a dead owner's claim ours, nothing on the wire; False if it changed meanwhile."""
        value = f"claimed:{self.owner}:{found.attempts_made}"
        return bool(await self._swap(keys=[key], args=[found.raw, value, SENT_TTL_S]))

    async def on_wire(self, key: str, attempt: int) -> None:
        """Record that attempt `attempt` of ours is about to be on the wire."""
        await self._redis.set(key, f"sending:{self.owner}:{attempt}", ex=SENT_TTL_S)

    async def off_wire(self, key: str, attempt: int) -> None:
        """Attempt `attempt` got an answer that isn't a delivery: nothing of ours is on the wire now."""
        await self._redis.set(key, f"claimed:{self.owner}:{attempt}", ex=SENT_TTL_S)

    async def mark_sent(self, key: str) -> None:
        await self._redis.set(key, State.SENT.value, ex=SENT_TTL_S)

    async def mark_in_doubt(self, key: str) -> None:
        """Settle a send whose owner died on the wire, without re-sending it."""
        await self._redis.set(key, State.IN_DOUBT.value, ex=SENT_TTL_S)

    async def release(self, key: str) -> None:
        """Give up our claim without a delivery (permanent failure): a later redelivery may try again."""
        await self._release(keys=[key], args=[f"claimed:{self.owner}:"])

    async def is_alive(self, owner: str) -> bool:
        return owner == self.owner or bool(await self._redis.exists(self._liveness_key(owner)))

    async def keep_alive(self, done: asyncio.Event) -> None:
        """Refresh this process' liveness key until `done` (set once no send of ours is on the wire)."""
        key = self._liveness_key(self.owner)
        while not done.is_set():
            try:
                await self._redis.set(key, b"1", ex=LIVENESS_TTL_S)
            except aioredis.RedisError as exc:
                log.warning("liveness refresh failed: %s", exc)
            try:  # asyncio.timeout: wait_for can swallow a cancel on Python 3.11 (see ingest/opcua/connector.py)
                async with asyncio.timeout(LIVENESS_REFRESH_S):
                    await done.wait()
            except TimeoutError:
                pass

    async def retire(self) -> None:
        """Delete this process' liveness key (after its last send finished)."""
        await self._redis.delete(self._liveness_key(self.owner))

    async def announce(self) -> None:
        """Write the liveness key once before any claim is made."""
        await self._redis.set(self._liveness_key(self.owner), b"1", ex=LIVENESS_TTL_S)
