"""The stores' Postgres handle: a pool (the API) or one autocommit connection (the CLI, tests, tools)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


@asynccontextmanager
async def connection(db: AsyncConnectionPool | AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """A connection from the pool for the block, or the one connection itself."""
    if isinstance(db, AsyncConnectionPool):
        async with db.connection() as conn:
            yield conn
    else:
        yield db
