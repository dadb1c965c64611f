"""The device registry: device id → labels in Postgres (table `devices`), which ingest adds to the device's samples.

Ingest reads the registry through a Redis cache (ingest/enrich.py); the API route deletes a
device's cache entry after each change, so this store holds only the SQL. A change locks the
device's row, so two concurrent changes of one device are serialised and each sees the other's result.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from kernel.db import connection

SortKey = Literal["device_id", "updated_at"]


@dataclass(frozen=True)
class StoredDevice:
    """One row of the registry."""

    device_id: str
    labels: dict[str, str]
    updated_at: datetime


_COLUMNS = sql.SQL("device_id, labels, updated_at")
_GET = sql.SQL("SELECT {c} FROM devices WHERE device_id = %s").format(c=_COLUMNS)
_LOCK = sql.SQL("SELECT {c} FROM devices WHERE device_id = %s FOR UPDATE").format(c=_COLUMNS)
# clock_timestamp(): two changes in one transaction's snapshot still get distinct, ordered times.
_UPSERT = sql.SQL("INSERT INTO devices (device_id, labels, updated_at) VALUES (%s, %s, clock_timestamp()) "
                  "ON CONFLICT (device_id) DO UPDATE SET labels = EXCLUDED.labels, updated_at = EXCLUDED.updated_at "
                  "RETURNING {c}").format(c=_COLUMNS)
_DELETE = sql.SQL("DELETE FROM devices WHERE device_id = %s RETURNING {c}").format(c=_COLUMNS)


def _stored(row: dict) -> StoredDevice:
    return StoredDevice(device_id=row["device_id"], labels={str(k): str(v) for k, v in row["labels"].items()},
                        updated_at=row["updated_at"])


class DeviceStore:
    """List, read, create-or-replace and delete registered devices."""

    def __init__(self, db: AsyncConnectionPool | AsyncConnection) -> None:
        self._db = db  # a pool (API) or one autocommit connection (tests, tools)

    async def list(self, *, id_prefix: str | None = None, labels: list[tuple[str, str]] = (),
                   sort: SortKey = "device_id", descending: bool = False,
                   after: tuple | None = None, limit: int = 100) -> list[StoredDevice]:
        """Devices whose id starts with `id_prefix` and that have every (name, value) of `labels`, ordered by
        `sort` (ties by id), after the sort key `after` ((device_id,) or (updated_at, device_id)), at most `limit`."""
        where, args = [sql.SQL("TRUE")], []
        if id_prefix:
            where.append(sql.SQL("starts_with(device_id, %s)"))
            args.append(id_prefix)
        for name, value in labels:
            where.append(sql.SQL("labels @> %s"))
            args.append(Jsonb({name: value}))
        keys = [sql.Identifier("device_id")] if sort == "device_id" else [sql.Identifier(sort),
                                                                          sql.Identifier("device_id")]
        direction = sql.SQL("DESC" if descending else "ASC")
        if after is not None:
            where.append(sql.SQL("({}) {} ({})").format(sql.SQL(", ").join(keys), sql.SQL("<" if descending else ">"),
                                                          sql.SQL(", ").join(sql.Placeholder() * len(keys))))
            args.extend(after)
        query = sql.SQL("SELECT {c} FROM devices WHERE {w} ORDER BY {o} LIMIT %s").format(
            c=_COLUMNS, w=sql.SQL(" AND ").join(where),
            o=sql.SQL(", ").join(sql.SQL("{} {}").format(key, direction) for key in keys))
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, [*args, limit])
            return [_stored(row) for row in await cur.fetchall()]

    async def get(self, device_id: str) -> StoredDevice | None:
        """The device, or None when it is not registered."""
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_GET, (device_id,))
            row = await cur.fetchone()
        return None if row is None else _stored(row)

    async def put(self, device_id: str, labels: dict[str, str]) -> tuple[StoredDevice | None, StoredDevice]:
        """Register the device or replace its labels; (before, after). Unchanged labels keep the row as it was."""
        async with self._changing() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_LOCK, (device_id,))
            row = await cur.fetchone()
            before = None if row is None else _stored(row)
            if before is not None and before.labels == labels:
                return before, before
            await cur.execute(_UPSERT, (device_id, Jsonb(labels)))
            return before, _stored(await cur.fetchone())

    async def delete(self, device_id: str) -> StoredDevice | None:
        """Remove the device; what it was, or None when it was not registered."""
        async with self._changing() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_DELETE, (device_id,))
            row = await cur.fetchone()
        return None if row is None else _stored(row)

    @asynccontextmanager
    async def _changing(self) -> AsyncIterator[AsyncConnection]:
        async with connection(self._db) as conn, conn.transaction():
            yield conn
