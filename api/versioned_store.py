"""A versioned store: items in Postgres with a version per change, each change published to a compacted topic.

Publishing contract (DESIGN.md: never accept and then drop): a change is written to Postgres inside
a transaction, its record is produced and its delivery report awaited, and only then is the
transaction committed. When Kafka does not acknowledge, the transaction rolls back and the caller
gets `Unavailable` (retryable). The item's row is locked (SELECT … FOR UPDATE) for the whole
change, so two concurrent changes of one id are serialised and never both win.

A kind of item has two tables (`Tables`): the current one holds the latest version of each item,
the versions one every change, written in the same transaction. Every change is a new version;
nothing is deleted, a delete is a version with `deleted` set. The rule store (api/rule_store.py)
and the silence store (api/silence_store.py) are this store with their own columns and records,
and their own rules of what may change; each keeps its own refusals (`Refusals`), which the routes
answer as 404, 409 and 412.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from confluent_kafka import Producer
from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api import republish
from api.publisher import PUBLISH_TIMEOUT_S, NotAcked, Publisher, Record
from kernel.db import connection
from schemas.codec import Codec


class StoreError(Exception):
    """A change a store refused; `item_id` names the item."""

    def __init__(self, item_id: str, message: str) -> None:
        super().__init__(message)
        self.item_id = item_id


class Unavailable(NotAcked):
    """Kafka did not acknowledge the change in time: nothing was saved, retry later."""


class Refusals(NamedTuple):
    """A store's own error classes, so that each resource's routes answer its refusals."""

    not_found: type[StoreError]  # no item with this id (or none that may change)
    conflict: type[StoreError]  # the change contradicts the stored state
    version_conflict: type[StoreError]  # the caller expected another version (If-Match)


@dataclass(frozen=True)
class Tables:
    """Where one kind of item is kept, and its own columns (kernel/migrations/003_rules.sql, 004_silences.sql).

    Both tables have `id`, `version`, the kind's `fields`, `deleted`; the current table then
    `created_at`, `updated_at`, `updated_by`, the versions table `changed_at`, `changed_by` (the
    version's `updated_at` and `updated_by`).
    """

    current: str
    versions: str
    fields: tuple[str, ...]
    json_fields: tuple[str, ...] = ()  # of `fields`, those stored as jsonb
    republish_order: str = "id"  # the order `publish_all` republishes in

    @property
    def columns(self) -> tuple[str, ...]:
        """The current table's columns, in table order."""
        return ("id", "version", *self.fields, "deleted", "created_at", "updated_at", "updated_by")

    @property
    def version_columns(self) -> tuple[str, ...]:
        """The versions table's columns, in table order."""
        return ("id", "version", *self.fields, "deleted", "changed_at", "changed_by")


class Versioned(Protocol):
    """What the store reads of an item: a frozen dataclass with a field per column of the current table."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def updated_by(self) -> str: ...


Item = TypeVar("Item", bound=Versioned)  # the latest version of an item, a row of the current table
Version = TypeVar("Version")  # one change, a row of the versions table


def utc_now() -> datetime:
    """The stores' default clock."""
    return datetime.now(timezone.utc)


def _names(columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, columns))


def _placeholders(count: int) -> sql.Composable:
    return sql.SQL(", ").join([sql.Placeholder()] * count)


class VersionedStore(Generic[Item, Version]):
    """Read, create and change versioned items; every change is a new version, saved only once Kafka has it.

    A subclass names its kind, tables, item and version classes and refusals, says how an item
    becomes a record (`_record`) and which items may change (`_changeable`), and writes its own
    listing and changes: `_change` for one existing item; `_changing`, `_lock`, `_save` and
    `_publish` for the others (a new item, several at once).
    """

    kind: ClassVar[str]  # "rule": names the items in messages and the publisher's errors
    tables: ClassVar[Tables]
    item_type: ClassVar[type]  # called with a keyword per column of the current table
    version_type: ClassVar[type]  # called with a keyword per column of the versions table
    refusals: ClassVar[Refusals]

    def __init__(self, db: AsyncConnectionPool | AsyncConnection, producer: Producer | None, topic: str,
                 codec: Codec[Any], publish_timeout_s: float = PUBLISH_TIMEOUT_S,
                 now: Callable[[], datetime] = utc_now) -> None:
        self._db = db  # a pool (API) or one autocommit connection (CLI, tests, tools)
        self._topic = topic
        self._publisher = None if producer is None else Publisher(  # None: a read-only store
            producer, topic, self.kind, Unavailable, publish_timeout_s)
        self._now = now
        self._codec = codec
        tables = self.tables
        self._table = sql.Identifier(tables.current)
        self._columns = _names(tables.columns)
        self._updated_columns = ("version", *tables.fields, "deleted", "updated_at", "updated_by")
        self._version_values = ("id", "version", *tables.fields, "deleted", "updated_at", "updated_by")
        self._insert = sql.SQL("INSERT INTO {t} ({c}) VALUES ({v})").format(
            t=self._table, c=self._columns, v=_placeholders(len(tables.columns)))
        self._update = sql.SQL("UPDATE {t} SET {s} WHERE id = %s AND version = %s").format(
            t=self._table, s=sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name))
                                                for name in self._updated_columns))
        self._insert_version = sql.SQL("INSERT INTO {t} ({c}) VALUES ({v})").format(
            t=sql.Identifier(tables.versions), c=_names(tables.version_columns),
            v=_placeholders(len(tables.version_columns)))
        self._history = sql.SQL("SELECT {c} FROM {t} WHERE id = %s ORDER BY version").format(
            c=_names(tables.version_columns), t=sql.Identifier(tables.versions))

    def now(self) -> datetime:
        """The store's clock (the API computes states with it)."""
        return self._now()

    # --- reads ---

    async def get(self, item_id: str) -> Item:
        """The latest version of an item, deleted or not; NotFound if the id was never used."""
        row = None
        if self._valid_id(item_id):
            async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(self._select(sql.SQL("id = %s")), (item_id,))
                row = await cur.fetchone()
        if row is None:
            raise self._not_found(item_id)
        return self._item(row)

    async def history(self, item_id: str) -> list[Version]:
        """Every version of an item, oldest first; NotFound if the id was never used."""
        rows = []
        if self._valid_id(item_id):
            async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(self._history, (item_id,))
                rows = await cur.fetchall()
        if not rows:
            raise self._not_found(item_id)
        return [self.version_type(**{**row, "id": str(row["id"])}) for row in rows]

    async def publish_all(self, topic_id: str) -> int | None:
        """Republish the latest record of every item, deleted ones too, into the topic with this id;
        None if that was done already.

        The embedded broker forgets on restart; api/republish.py says when and why.
        """
        async with connection(self._db) as conn:
            async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                # FOR SHARE: a change in flight finishes first, so an older version never lands after a newer one.
                await cur.execute(self._select(sql.SQL("TRUE"), f"ORDER BY {self.tables.republish_order} FOR SHARE"))
                rows = [self._item(row) for row in await cur.fetchall()]
                if not await republish.claim(cur, self._topic, topic_id, len(rows)):
                    return None
                await self._publish(rows)
        return len(rows)

    # --- for the subclasses ---

    def _record(self, item: Item) -> Any:
        """The item as published on the topic (the codec's record)."""
        raise NotImplementedError

    def _valid_id(self, item_id: str) -> bool:
        """False for an id no item of this kind can have: it is not looked up (Postgres would refuse it)."""
        return True

    def _select(self, where: sql.Composable, tail: str = "") -> sql.Composed:
        """SELECT the current table's columns WHERE `where`, then `tail` (ORDER BY, LIMIT, FOR UPDATE)."""
        return sql.SQL("SELECT {c} FROM {t} WHERE {w}" + (" " + tail if tail else "")).format(
            c=self._columns, t=self._table, w=where)

    def _item(self, row: dict) -> Item:
        """A row of the current table as the kind's item (ids as text: a silence's is a uuid column)."""
        return self.item_type(**{**row, "id": str(row["id"])})

    def _not_found(self, item_id: str) -> StoreError:
        return self.refusals.not_found(item_id, f"no {self.kind} with id {item_id}")

    async def _change(self, item_id: str, actor: str, expected_version: int | None,
                      fields: Callable[[Item], dict[str, Any] | None]) -> Item:
        """Change an item that may change (`_changeable`): save the next version with `fields(current)` and
        publish it before the transaction commits; `fields` answering None leaves the item as it is."""
        async with self._changing(item_id) as conn:
            current = await self._changeable(conn, item_id, expected_version)
            changes = fields(current)
            if changes is None:
                return current
            saved = await self._save(conn, current, item_id, actor, **changes)
            await self._publish([saved])
        return saved

    async def _changeable(self, conn: AsyncConnection, item_id: str, expected_version: int | None) -> Item:
        """The locked current version, if it exists and is at the version the caller expects."""
        current = await self._lock(conn, item_id)
        if current is None:
            raise self._not_found(item_id)
        self._expect_version(current, expected_version)
        return current

    @asynccontextmanager
    async def _changing(self, item_id: str) -> AsyncIterator[AsyncConnection]:
        """A transaction; a concurrent insert of the same new id surfaces as Conflict."""
        if self._publisher is None:
            raise Unavailable(f"this {self.kind} store is read-only (no Kafka producer)")
        try:
            async with connection(self._db) as conn, conn.transaction():
                yield conn
        except UniqueViolation:
            raise self.refusals.conflict(
                item_id, f"{self.kind} {item_id} was created by a concurrent request; retry") from None

    async def _lock(self, conn: AsyncConnection, item_id: str) -> Item | None:
        """The current version, its row locked until the transaction ends; None if the id was never used."""
        if not self._valid_id(item_id):
            return None
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._select(sql.SQL("id = %s"), "FOR UPDATE"), (item_id,))
            row = await cur.fetchone()
        return None if row is None else self._item(row)

    def _expect_version(self, current: Item, expected_version: int | None) -> None:
        """VersionConflict unless the caller expects the current version (or no version in particular)."""
        if expected_version is not None and expected_version != current.version:
            raise self.refusals.version_conflict(
                current.id, f"{self.kind} {current.id} is at version {current.version}, "
                            f"not {expected_version}: read it again and retry")

    async def _save(self, conn: AsyncConnection, current: Item | None, item_id: str, actor: str,
                    **fields: Any) -> Item:
        """Save the next version of `item_id` in the open transaction (the row is locked by the caller).

        `fields` are the kind's columns and `deleted`: all of them for a new id (version 1), those
        that change otherwise.
        """
        now = self._now()
        saved: Item
        if current is None:
            saved = self.item_type(id=item_id, version=1, created_at=now, updated_at=now, updated_by=actor, **fields)
            await conn.execute(self._insert, self._values(saved, self.tables.columns))
        else:
            saved = dataclasses.replace(current, version=current.version + 1, updated_at=now,
                                        updated_by=actor, **fields)
            cur = await conn.execute(self._update, [*self._values(saved, self._updated_columns), item_id,
                                                    current.version])
            if cur.rowcount != 1:  # unreachable while the row is locked; a guard, not a code path
                raise self.refusals.conflict(item_id, f"{self.kind} {item_id} changed concurrently; retry")
        # changed_at and changed_by are the version's updated_at and updated_by
        await conn.execute(self._insert_version, self._values(saved, self._version_values))
        return saved

    def _values(self, item: Item, names: tuple[str, ...]) -> list[Any]:
        """The item's values for these columns, jsonb ones wrapped for psycopg."""
        return [Jsonb(getattr(item, name)) if name in self.tables.json_fields else getattr(item, name)
                for name in names]

    async def _publish(self, items: list[Item]) -> None:
        """Produce one record per item and wait for every delivery report; Unavailable if any failed."""
        await self._publisher.publish([Record(item.id.encode(), self._codec.encode(self._record(item)))
                                       for item in items])
