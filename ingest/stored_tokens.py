"""Agent ingest tokens kept in Postgres (`vigil keys create --role ingest`), polled into `Sources`.

They are read once before ingest serves, so a process never starts open while tokens exist, then
every `REFRESH_S`: a new token works and a revoked one stops within that time. When Postgres does
not answer, the last set read stays in force.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from api.keys import KeyStore
from ingest.sources import Agent, Sources

log = logging.getLogger(__name__)

REFRESH_S = 5.0


async def _read(dsn: str) -> dict[bytes, Agent]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        stored = await KeyStore(conn).ingest_tokens()
    return {digest: Agent(key.name, dict(key.labels)) for digest, key in stored.items()}


def load(sources: Sources, dsn: str) -> int:
    """Read the stored tokens into `sources` now (before serving); how many there are."""
    stored = asyncio.run(_read(dsn))
    sources.replace_stored(stored)
    return len(stored)


async def refresh_forever(sources: Sources, dsn: str, interval_s: float = REFRESH_S) -> None:
    """Re-read the stored tokens every `interval_s` until cancelled; log when the outcome changes."""
    last_error = None
    while True:
        await asyncio.sleep(interval_s)
        try:
            stored = await _read(dsn)
        except (psycopg.Error, OSError) as exc:
            if str(exc) != last_error:
                log.warning("ingest tokens not refreshed, keeping the last set read: %s", exc)
                last_error = str(exc)
            continue
        if last_error is not None:
            log.info("ingest tokens refreshed again (%d)", len(stored))
            last_error = None
        sources.replace_stored(stored)
