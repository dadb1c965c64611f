"""The silence store: silences in Postgres with a version per change, each change published to the silences topic.

A versioned store (api/versioned_store.py, which holds the publishing contract: a change is
committed only once Kafka acknowledged its SilenceRecord, else the caller gets `Unavailable`).
What is the silences' own: their columns and record, uuid ids the store makes, the listing (newest
first, by state and by the labels an alert would have), and which silences may change.

Expiry follows Alertmanager: an active silence ends now, a pending one starts and ends now; the
row stays (listed as expired) and the record says `deleted: true`. An expired silence is history:
it can't be changed or expired again; a new one is created instead.
https://github.com/prometheus/alertmanager/blob/main/silence/silence.go (Expire, canUpdate)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from confluent_kafka import Producer
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.publisher import PUBLISH_TIMEOUT_S
from api.versioned_store import Refusals, StoreError, Tables, VersionedStore, utc_now
from kernel.alerting.silences import State, matcher_of, state_at
from kernel.db import connection
from kernel.matchers import Matcher
from schemas import codec
from schemas.records import SilenceMatcher, SilenceRecord
from schemas.topics import Topics

LIST_CHUNK = 500  # rows read per query while filtering by labels in Python (RE2 is not Postgres' regex)


class SilenceStoreError(StoreError):
    """A change the store refused; `silence_id` names the silence."""

    @property
    def silence_id(self) -> str:
        return self.item_id


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

    def columns(self) -> dict[str, Any]:
        """What the author set, by the silences table's column."""
        return {"matchers": self.stored_matchers(), "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_by": self.created_by, "comment": self.comment}


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


_STATE_SQL = {"pending": sql.SQL("starts_at > %s"),
              "active": sql.SQL("(starts_at <= %s AND ends_at > %s)"),
              "expired": sql.SQL("ends_at <= %s")}


class SilenceStore(VersionedStore[StoredSilence, SilenceVersion]):
    """Create, read, update and expire silences; every change is a new version, saved only once Kafka has it."""

    kind = "silence"
    tables = Tables("silences", "silence_versions",
                    fields=("matchers", "starts_at", "ends_at", "created_by", "comment"), json_fields=("matchers",),
                    republish_order="created_at, id")
    item_type = StoredSilence
    version_type = SilenceVersion
    refusals = Refusals(NotFound, Conflict, VersionConflict)

    def __init__(self, db: AsyncConnectionPool | AsyncConnection, producer: Producer | None, topics: Topics,
                 publish_timeout_s: float = PUBLISH_TIMEOUT_S, now: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        super().__init__(db, producer, topics.silences, codec.silence(), publish_timeout_s, now)
        self._new_id = new_id

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
                query = self._select(sql.SQL(" AND ").join(page_where), "ORDER BY created_at DESC, id DESC LIMIT %s")
                await cur.execute(query, [*page_args, chunk])
                rows = [self._item(row) for row in await cur.fetchall()]
                found.extend(r for r in rows if labels is None or r.matches(labels))
                if len(rows) < chunk:
                    break
                after = (rows[-1].created_at, rows[-1].id)
        return found[:limit]

    # --- changes ---

    async def create(self, spec: SilenceSpec, actor: str) -> StoredSilence:
        """Save a new silence as version 1 under a new id, published before it returns."""
        silence_id = self._new_id()
        async with self._changing(silence_id) as conn:
            saved = await self._save(conn, None, silence_id, actor, **spec.columns(), deleted=False)
            await self._publish([saved])
        return saved

    async def replace(self, silence_id: str, spec: SilenceSpec, actor: str,
                      expected_version: int | None = None) -> StoredSilence:
        """Save a new version of a pending or active silence; an unchanged one keeps its version."""
        columns = spec.columns()

        def changed(current: StoredSilence) -> dict | None:
            return None if all(getattr(current, name) == value for name, value in columns.items()) else columns

        return await self._change(silence_id, actor, expected_version, changed)

    async def expire(self, silence_id: str, actor: str, expected_version: int | None = None) -> StoredSilence:
        """End a silence now (a pending one also starts now); the row stays and lists as expired."""

        def ended(current: StoredSilence) -> dict:
            now = self._now()
            return {"starts_at": now if current.state(now) == "pending" else current.starts_at, "ends_at": now,
                    "deleted": True}

        return await self._change(silence_id, actor, expected_version, ended)

    # --- what a silence adds to the versioned store ---

    async def _changeable(self, conn: AsyncConnection, silence_id: str,
                          expected_version: int | None) -> StoredSilence:
        """The locked current version, if it may still change (exists, version as expected, not expired)."""
        current = await super()._changeable(conn, silence_id, expected_version)
        if current.state(self._now()) == "expired":
            raise Conflict(silence_id, f"silence {silence_id} expired at {current.ends_at.isoformat()}; "
                                       "an expired silence stays as it was: create a new one")
        return current

    def _valid_id(self, silence_id: str) -> bool:
        """Silence ids are UUIDs: any other id names no silence (and Postgres would refuse it)."""
        try:
            uuid.UUID(silence_id)
        except (ValueError, TypeError, AttributeError):
            return False
        return True

    def _record(self, silence: StoredSilence) -> SilenceRecord:
        """The silence as published on the silences topic."""
        return silence.record()
