"""Agent ingest tokens kept in Postgres (`vigil keys create --role ingest`), polled into `Sources`.

They are read once before ingest serves, so a process never starts open while tokens exist, then
every `REFRESH_S`: a new token works and a revoked one stops within that time. Whether any ingest
token was ever created (live or revoked) goes to the process's `TokenPolicy`, so revoking the last
one leaves ingest closed. When Postgres does not answer, the last set read stays in force.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import psycopg

from kernel.keys import KeyStore
from kernel.retry import ErrorLog
from ingest.auth import policy_of
from ingest.sources import Agent, Sources

log = logging.getLogger(__name__)

REFRESH_S = 5.0
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class StoredTokens:
    """What one read of the token store found."""

    live: dict[bytes, Agent]  # sha256 → agent, revoked tokens left out
    ever_created: bool        # any ingest token, live or revoked, exists


async def _read(dsn: str) -> StoredTokens:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        store = KeyStore(conn)
        stored = await store.ingest_tokens()
        ever_created = bool(stored) or await store.ingest_tokens_ever_created()
    return StoredTokens({digest: Agent(key.name, dict(key.labels)) for digest, key in stored.items()}, ever_created)


def _take(sources: Sources, read: StoredTokens) -> None:
    policy_of(sources).saw_stored_tokens(read.ever_created)  # first: never a moment open in between
    sources.replace_stored(read.live)


def load(sources: Sources, dsn: str) -> int:
    """Read the stored tokens into `sources` now (before serving); how many live ones there are."""
    read = asyncio.run(_read(dsn))
    _take(sources, read)
    return len(read.live)


async def refresh_forever(sources: Sources, dsn: str, interval_s: float = REFRESH_S) -> None:
    """Re-read the stored tokens every `interval_s` until cancelled; log when the outcome changes."""
    errors = ErrorLog(log)
    while True:
        await asyncio.sleep(interval_s)
        try:
            read = await _read(dsn)
        except (psycopg.Error, OSError) as exc:
            errors.failed(exc, "ingest tokens not refreshed, keeping the last set read: %s", exc)
            continue
        errors.recovered("ingest tokens refreshed again (%d)", len(read.live))
        _take(sources, read)
