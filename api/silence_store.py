"""The silence store: silences in Postgres with a version per change, each change published to the silences topic.

Same contract as the rule store (api/rule_store.py): a change is written to Postgres inside a
transaction, its SilenceRecord is produced and its delivery report awaited, and only then is the
transaction committed; when Kafka does not acknowledge, the transaction rolls back and the caller
gets `Unavailable`. The silence's row is locked for the whole change, so two concurrent changes
of one id are serialised and never both win.

Expiry follows Alertmanager: an active silence ends now, a pending one starts and ends now; the
row stays (listed as expired) and the record says `deleted: true`. An expired silence is history:
it can't be changed or expired again; a new one is created instead.
https://github.com/prometheus/alertmanager/blob/main/silence/silence.go (Expire, canUpdate)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from confluent_kafka import Producer
from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api import republish
from kernel.db import connection
from api.publisher import PUBLISH_TIMEOUT_S, Publisher, Record
from api.rule_store import Unavailable
from schemas import codec
from schemas.records import SilenceMatcher, SilenceRecord
from schemas.topics import Topics
from kernel.alerting.silences import State, matcher_of, state_at
from kernel.matchers import Matcher

LIST_CHUNK = 500  # rows read per query while filtering by labels in Python (RE2 is not Postgres' regex)


class SilenceStoreError(Exception):
    """A change the store refused; `silence_id` names the silence."""

    def __init__(self, silence_id: str, message: str) -> None:
        super().__init__(message)
        self.silence_id = silence_id


class NotFound(SilenceStoreError):
    """No silence with this id."""


class Conflict(SilenceStoreError):
    """The change contradicts the stored state (the silence has expired)."""


class VersionConflict(Conflict):
    """The caller expected another version than the current one (If-Match)."""


@dataclass(frozen=True)
class SilenceSpec:
    """What an author sets on a silence, validated (api/routes/silences.py builds it)."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def stored_matchers(self) -> list[SilenceMatcher]:
        """The matchers as they are stored and published: `{name, op, value}`."""
        return [{"name": m.name, "op": m.op, "value": m.value} for m in self.matchers]


@dataclass(frozen=True)
class StoredSilence:
    """The latest version of one silence as stored."""

    id: str
    version: int
    deleted: bool
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    updated_by: str

    def state(self, now: datetime) -> State:
        """pending, active or expired at `now` (a silence expired through the API ended then)."""
        return state_at(_ms(self.starts_at), _ms(self.ends_at), _ms(now))

    def matches(self, labels: dict[str, str]) -> bool:
        """True when every matcher matches these labels (the silence would mute such an alert while active)."""
        return all(_matcher(m["name"], m["op"], m["value"]).matches(labels) for m in self.matchers)

    def record(self) -> SilenceRecord:
        """This version as published on the silences topic."""
        return {"id": self.id, "version": self.version, "deleted": self.deleted, "matchers": self.matchers,
                "starts_at_ms": _ms(self.starts_at), "ends_at_ms": _ms(self.ends_at), "created_by": self.created_by,
                "comment": self.comment, "updated_at_ms": _ms(self.updated_at)}


@dataclass(frozen=True)
class SilenceVersion:
    """One change of one silence."""

    id: str
    version: int
    deleted: bool
    matchers: list[SilenceMatcher]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    changed_at: datetime
    changed_by: str


def _ms(stamp: datetime) -> int:
    return int(stamp.timestamp() * 1000)


@lru_cache(maxsize=4096)
def _matcher(name: str, op: str, value: str) -> Matcher:
    """Stored matchers compiled once: listing by labels checks every silence's regexes."""
    return matcher_of({"name": name, "op": op, "value": value})


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _valid_id(silence_id: str) -> bool:
    try:
        uuid.UUID(silence_id)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


_FIELDS = ("matchers", "starts_at", "ends_at", "created_by", "comment", "deleted")
_COLUMNS = sql.SQL("id, version, matchers, starts_at, ends_at, created_by, comment, deleted, created_at, "
                   "updated_at, updated_by")
_INSERT = ("INSERT INTO silences (id, version, matchers, starts_at, ends_at, created_by, comment, deleted, "
           "created_at, updated_at, updated_by) VALUES (%s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_UPDATE = ("UPDATE silences SET version = %s, matchers = %s, starts_at = %s, ends_at = %s, created_by = %s, "
           "comment = %s, deleted = %s, updated_at = %s, updated_by = %s WHERE id = %s AND version = %s")
_INSERT_VERSION = ("INSERT INTO silence_versions (id, version, matchers, starts_at, ends_at, created_by, comment, "
                   "deleted, changed_at, changed_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_HISTORY = ("SELECT id, version, matchers, starts_at, ends_at, created_by, comment, deleted, changed_at, changed_by "
            "FROM silence_versions WHERE id = %s ORDER BY version")
_STATE_SQL = {"pending": sql.SQL("starts_at > %s"),
              "active": sql.SQL("(starts_at <= %s AND ends_at > %s)"),
              "expired": sql.SQL("ends_at <= %s")}


def _stored(row: dict) -> StoredSilence:
    return StoredSilence(**{**row, "id": str(row["id"])})


class SilenceStore:
    """Create, read, update and expire silences; every change is a new version, saved only once Kafka has it."""

    def __init__(self, db: AsyncConnectionPool | AsyncConnection, producer: Producer | None, topics: Topics,
                 publish_timeout_s: float = PUBLISH_TIMEOUT_S, now: Callable[[], datetime] = _utc_now,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self._db = db  # a pool (API) or one autocommit connection (tests, tools)
        self._topic = topics.silences
        self._publisher = None if producer is None else Publisher(  # None: a read-only store
            producer, topics.silences, "silence", Unavailable, publish_timeout_s)
        self._now = now
        self._new_id = new_id
        self._codec = codec.silence()

    def now(self) -> datetime:
        """The store's clock (the API computes states with it)."""
        return self._now()

    # --- reads ---

    async def list(self, *, states: Iterable[State] = (), created_by: str | None = None,
                   labels: dict[str, str] | None = None, after: tuple[datetime, str] | None = None,
                   limit: int = 100) -> list[StoredSilence]:
        """Silences newest first (created_at, id), after the key `after`, at most `limit`.

        `states` keeps those in any of these states now; `labels` keeps those whose matchers all
        match an alert with exactly these labels (missing ones read as empty), whatever their state.
        """
        now = self._now()
        where, args = [sql.SQL("TRUE")], []
        if states:
            where.append(sql.SQL("({})").format(sql.SQL(" OR ").join(_STATE_SQL[s] for s in sorted(set(states)))))
            for state in sorted(set(states)):
                args.extend([now] * (2 if state == "active" else 1))
        if created_by is not None:
            where.append(sql.SQL("created_by = %s"))
            args.append(created_by)
        found: list[StoredSilence] = []
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            while len(found) < limit:
                page_where = list(where)
                page_args = list(args)
                if after is not None:
                    page_where.append(sql.SQL("(created_at, id) < (%s, %s)"))
                    page_args.extend(after)
                chunk = limit if labels is None else LIST_CHUNK
                query = sql.SQL("SELECT {c} FROM silences WHERE {w} ORDER BY created_at DESC, id DESC LIMIT %s").format(
                    c=_COLUMNS, w=sql.SQL(" AND ").join(page_where))
                await cur.execute(query, [*page_args, chunk])
                rows = [_stored(row) for row in await cur.fetchall()]
                found.extend(r for r in rows if labels is None or r.matches(labels))
                if len(rows) < chunk:
                    break
                after = (rows[-1].created_at, rows[-1].id)
        return found[:limit]

    async def get(self, silence_id: str) -> StoredSilence:
        """The latest version of a silence, expired or not; NotFound if the id was never used."""
        if not _valid_id(silence_id):
            raise NotFound(silence_id, f"no silence with id {silence_id}")
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql.SQL("SELECT {c} FROM silences WHERE id = %s").format(c=_COLUMNS), (silence_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(silence_id, f"no silence with id {silence_id}")
        return _stored(row)

    async def history(self, silence_id: str) -> list[SilenceVersion]:
        """Every version of a silence, oldest first; NotFound if the id was never used."""
        rows = []
        if _valid_id(silence_id):
            async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(_HISTORY, (silence_id,))
                rows = await cur.fetchall()
        if not rows:
            raise NotFound(silence_id, f"no silence with id {silence_id}")
        return [SilenceVersion(**{**row, "id": str(row["id"])}) for row in rows]

    # --- changes ---

    async def create(self, spec: SilenceSpec, actor: str) -> StoredSilence:
        """Save a new silence as version 1 under a new id, published before it returns."""
        silence_id = self._new_id()
        async with self._changing(silence_id) as conn:
            now = self._now()
            saved = StoredSilence(silence_id, 1, False, spec.stored_matchers(), spec.starts_at, spec.ends_at,
                                  spec.created_by, spec.comment, now, now, actor)
            await conn.execute(_INSERT, (saved.id, Jsonb(saved.matchers), saved.starts_at, saved.ends_at,
                                         saved.created_by, saved.comment, False, now, now, actor))
            await self._insert_version(conn, saved)
            await self._publish([saved])
        return saved

    async def replace(self, silence_id: str, spec: SilenceSpec, actor: str,
                      expected_version: int | None = None) -> StoredSilence:
        """Save a new version of a pending or active silence; an unchanged one keeps its version."""
        async with self._changing(silence_id) as conn:
            current = await self._changeable(conn, silence_id, expected_version)
            if (current.matchers, current.starts_at, current.ends_at, current.created_by, current.comment) == (
                    spec.stored_matchers(), spec.starts_at, spec.ends_at, spec.created_by, spec.comment):
                return current
            saved = await self._write(conn, current, actor, matchers=spec.stored_matchers(),
                                      starts_at=spec.starts_at, ends_at=spec.ends_at, created_by=spec.created_by,
                                      comment=spec.comment)
            await self._publish([saved])
        return saved

    async def expire(self, silence_id: str, actor: str, expected_version: int | None = None) -> StoredSilence:
        """End a silence now (a pending one also starts now); the row stays and lists as expired."""
        async with self._changing(silence_id) as conn:
            current = await self._changeable(conn, silence_id, expected_version)
            now = self._now()
            starts_at = now if current.state(now) == "pending" else current.starts_at
            saved = await self._write(conn, current, actor, starts_at=starts_at, ends_at=now, deleted=True)
            await self._publish([saved])
        return saved

    async def publish_all(self, topic_id: str) -> int | None:
        """Republish the latest record of every silence into the topic with this id; None if that was done already.

        The embedded broker forgets on restart; api/republish.py says when and why.
        """
        async with connection(self._db) as conn:
            async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                # FOR SHARE: a change in flight finishes first, so an older version never lands after a newer one.
                await cur.execute(sql.SQL("SELECT {c} FROM silences ORDER BY created_at, id FOR SHARE").format(
                    c=_COLUMNS))
                rows = [_stored(row) for row in await cur.fetchall()]
                if not await republish.claim(cur, self._topic, topic_id, len(rows)):
                    return None
                await self._publish(rows)
        return len(rows)

    # --- internals ---

    @asynccontextmanager
    async def _changing(self, silence_id: str) -> AsyncIterator[AsyncConnection]:
        """A transaction; a concurrent insert of the same id (never, with uuid4) surfaces as Conflict."""
        if self._publisher is None:
            raise Unavailable("this silence store is read-only (no Kafka producer)")
        try:
            async with connection(self._db) as conn, conn.transaction():
                yield conn
        except UniqueViolation:
            raise Conflict(silence_id, f"silence {silence_id} was created by a concurrent request; retry") from None

    async def _changeable(self, conn: AsyncConnection, silence_id: str,
                          expected_version: int | None) -> StoredSilence:
        """The locked current version, if it may still change (exists, version as expected, not expired)."""
        if not _valid_id(silence_id):
            raise NotFound(silence_id, f"no silence with id {silence_id}")
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql.SQL("SELECT {c} FROM silences WHERE id = %s FOR UPDATE").format(c=_COLUMNS),
                              (silence_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(silence_id, f"no silence with id {silence_id}")
        current = _stored(row)
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict(silence_id, f"silence {silence_id} is at version {current.version}, "
                                              f"not {expected_version}: read it again and retry")
        if current.state(self._now()) == "expired":
            raise Conflict(silence_id, f"silence {silence_id} expired at {current.ends_at.isoformat()}; "
                                       "an expired silence stays as it was: create a new one")
        return current

    async def _write(self, conn: AsyncConnection, current: StoredSilence, actor: str, **changes) -> StoredSilence:
        """Save the next version of a locked silence in the open transaction."""
        now = self._now()
        fields = {name: getattr(current, name) for name in _FIELDS} | changes
        saved = StoredSilence(id=current.id, version=current.version + 1, created_at=current.created_at,
                              updated_at=now, updated_by=actor, **fields)
        cur = await conn.execute(_UPDATE, (saved.version, Jsonb(saved.matchers), saved.starts_at, saved.ends_at,
                                           saved.created_by, saved.comment, saved.deleted, now, actor,
                                           saved.id, current.version))
        if cur.rowcount != 1:  # unreachable while the row is locked; a guard, not a code path
            raise Conflict(current.id, f"silence {current.id} changed concurrently; retry")
        await self._insert_version(conn, saved)
        return saved

    async def _insert_version(self, conn: AsyncConnection, saved: StoredSilence) -> None:
        await conn.execute(_INSERT_VERSION, (saved.id, saved.version, Jsonb(saved.matchers), saved.starts_at,
                                             saved.ends_at, saved.created_by, saved.comment, saved.deleted,
                                             saved.updated_at, saved.updated_by))

    async def _publish(self, silences: list[StoredSilence]) -> None:
        """Produce one SilenceRecord per silence and wait for every delivery report; Unavailable if any failed."""
        await self._publisher.publish([Record(s.id.encode(), self._codec.encode(s.record())) for s in silences])
