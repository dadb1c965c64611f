"""The rule store: rules in Postgres with a version per change, each change published to the rules topic.

Publishing contract (DESIGN.md: never accept and then drop): a change is written to Postgres inside
a transaction, its RuleRecord is produced and its delivery report awaited, and only then is the
transaction committed. When Kafka does not acknowledge, the transaction rolls back and the caller
gets `Unavailable` (retryable). The rule's row is locked (SELECT … FOR UPDATE) for the whole
change, so two concurrent changes of one id are serialised and never both win.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from confluent_kafka import Producer
from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from api import publisher
from api import republish
from kernel.db import connection
from api.publisher import PUBLISH_TIMEOUT_S, NotAcked, Publisher, Record
from schemas import codec
from schemas.records import RuleRecord
from schemas.topics import Topics
from kernel.rules import Rule

Action = Literal["created", "updated", "unchanged", "deleted"]
DEFAULT_TYPE = Rule.model_fields["type"].default  # rule.spec() leaves defaults out
producer_overrides = publisher.producer_overrides  # infra/rules_cli.py builds its producer with it from here


class RuleStoreError(Exception):
    """A change the store refused; `rule_id` names the rule."""

    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(message)
        self.rule_id = rule_id


class NotFound(RuleStoreError):
    """No live rule with this id."""


class Conflict(RuleStoreError):
    """The change contradicts the stored state (the id is taken, or the rule changed concurrently)."""


class VersionConflict(Conflict):
    """The caller expected another version than the current one (If-Match)."""


class Unavailable(NotAcked):
    """Kafka did not acknowledge the change in time: nothing was saved, retry later."""


@dataclass(frozen=True)
class StoredRule:
    """The latest version of one rule as stored (a deleted rule keeps its last spec)."""

    id: str
    version: int
    deleted: bool
    spec: dict
    created_at: datetime
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class RuleVersion:
    """One change of one rule."""

    id: str
    version: int
    deleted: bool
    spec: dict
    changed_at: datetime
    changed_by: str


@dataclass(frozen=True)
class Applied:
    """What `apply` did with one rule."""

    id: str
    action: Action
    version: int


def canonical(spec: dict) -> str:
    """The spec as `Rule.spec_json()` writes it, so equal rules compare equal whatever jsonb did to numbers."""
    try:
        return Rule.model_validate(spec).spec_json()
    except ValidationError:  # a spec saved under older validation: publish it as it is
        return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


_COLUMNS = sql.SQL("id, version, spec, deleted, created_at, updated_at, updated_by")
_LOCK_ONE = sql.SQL("SELECT {c} FROM rules WHERE id = %s FOR UPDATE").format(c=_COLUMNS)
_INSERT = ("INSERT INTO rules (id, version, spec, deleted, created_at, updated_at, updated_by) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s)")
_UPDATE = ("UPDATE rules SET version = %s, spec = %s, deleted = %s, updated_at = %s, updated_by = %s "
           "WHERE id = %s AND version = %s")
_INSERT_VERSION = ("INSERT INTO rule_versions (id, version, spec, deleted, changed_at, changed_by) "
                   "VALUES (%s, %s, %s, %s, %s, %s)")
_HISTORY = ("SELECT id, version, spec, deleted, changed_at, changed_by FROM rule_versions "
            "WHERE id = %s ORDER BY version")


class RuleStore:
    """Create, read, update and delete rules; every change is a new version, saved only once Kafka has it."""

    def __init__(self, db: AsyncConnectionPool | AsyncConnection, producer: Producer | None, topics: Topics,
                 publish_timeout_s: float = PUBLISH_TIMEOUT_S, now: Callable[[], datetime] = _utc_now) -> None:
        self._db = db  # a pool (API) or one autocommit connection (CLI)
        self._topic = topics.rules
        self._publisher = None if producer is None else Publisher(  # None: a read-only store
            producer, topics.rules, "rule", Unavailable, publish_timeout_s)
        self._now = now
        self._codec = codec.rule()

    # --- reads ---

    async def list(self, *, type: str | None = None, metric: str | None = None, alertname: str | None = None,
                   evaluator: str | None = None, include_deleted: bool = False, after: str | None = None,
                   limit: int = 100) -> list[StoredRule]:
        """Rules ordered by id, after the id `after`, at most `limit`."""
        where, args = [sql.SQL("TRUE")], []
        if not include_deleted:
            where.append(sql.SQL("NOT deleted"))
        if type is not None:  # a stream rule's type; query rules have none
            where.append(sql.SQL("COALESCE(spec ->> 'type', %s) = %s AND COALESCE(spec ->> 'evaluator', 'stream') = 'stream'"))
            args.extend([DEFAULT_TYPE, type])
        if evaluator is not None:
            where.append(sql.SQL("COALESCE(spec ->> 'evaluator', 'stream') = %s"))
            args.append(evaluator)
        if metric is not None:
            where.append(sql.SQL("spec ->> 'metric' = %s"))
            args.append(metric)
        if alertname is not None:
            where.append(sql.SQL("spec ->> 'alert' = %s"))
            args.append(alertname)
        if after is not None:
            where.append(sql.SQL("id > %s"))
            args.append(after)
        query = sql.SQL("SELECT {c} FROM rules WHERE {w} ORDER BY id LIMIT %s").format(
            c=_COLUMNS, w=sql.SQL(" AND ").join(where))
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, [*args, limit])
            return [StoredRule(**row) for row in await cur.fetchall()]

    async def get(self, rule_id: str) -> StoredRule:
        """The latest version of a rule, deleted or not; NotFound if the id was never used."""
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(sql.SQL("SELECT {c} FROM rules WHERE id = %s").format(c=_COLUMNS), (rule_id,))
            row = await cur.fetchone()
        if row is None:
            raise NotFound(rule_id, f"no rule with id {rule_id}")
        return StoredRule(**row)

    async def history(self, rule_id: str) -> list[RuleVersion]:
        """Every version of a rule, oldest first; NotFound if the id was never used."""
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_HISTORY, (rule_id,))
            rows = await cur.fetchall()
        if not rows:
            raise NotFound(rule_id, f"no rule with id {rule_id}")
        return [RuleVersion(**row) for row in rows]

    # --- changes ---

    async def create(self, rule: Rule, actor: str) -> StoredRule:
        """Save a new rule as version 1 (or the next version of a deleted id); Conflict if the id is live."""
        async with self._changing(rule.id) as conn:
            current = await self._lock(conn, rule.id)
            if current is not None and not current.deleted:
                raise Conflict(rule.id, f"rule {rule.id} already exists (version {current.version}); "
                                        "replace it with PUT or delete it first")
            saved = await self._write(conn, current, rule.id, json.loads(rule.spec_json()), False, actor)
            await self._publish([saved])
        return saved

    async def replace(self, rule_id: str, rule: Rule, actor: str, expected_version: int | None = None) -> StoredRule:
        """Save a new version of a live rule; an unchanged spec returns the current version untouched."""
        if rule.id != rule_id:
            raise Conflict(rule_id, f"the rule's id {rule.id} is not {rule_id}")
        async with self._changing(rule_id) as conn:
            current = await self._live(conn, rule_id, expected_version)
            if canonical(current.spec) == rule.spec_json():
                return current
            saved = await self._write(conn, current, rule_id, json.loads(rule.spec_json()), False, actor)
            await self._publish([saved])
        return saved

    async def delete(self, rule_id: str, actor: str, expected_version: int | None = None) -> StoredRule:
        """Save a deleted version of a live rule (its spec kept) and publish it."""
        async with self._changing(rule_id) as conn:
            current = await self._live(conn, rule_id, expected_version)
            saved = await self._write(conn, current, rule_id, current.spec, True, actor)
            await self._publish([saved])
        return saved

    async def apply(self, rules: list[Rule], actor: str, prune: bool = False) -> list[Applied]:
        """Make the store hold `rules` (one transaction): create, update, leave, and with prune delete the rest."""
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise Conflict(twice, f"rule {twice} appears more than once")
        async with self._changing(ids[0] if len(ids) == 1 else "in the file") as conn, \
                conn.cursor(row_factory=dict_row) as cur:
            # One lock order (by id) for every apply, so two concurrent applies wait instead of deadlocking.
            lock = sql.SQL("SELECT {c} FROM rules WHERE id = ANY(%s) OR (%s AND NOT deleted) ORDER BY id FOR UPDATE")
            await cur.execute(lock.format(c=_COLUMNS), (ids, prune))
            current = {row["id"]: StoredRule(**row) for row in await cur.fetchall()}
            results, changed = [], []
            for rule in rules:
                row = current.get(rule.id)
                if row is not None and not row.deleted and canonical(row.spec) == rule.spec_json():
                    results.append(Applied(rule.id, "unchanged", row.version))
                    continue
                saved = await self._write(conn, row, rule.id, json.loads(rule.spec_json()), False, actor)
                changed.append(saved)
                results.append(Applied(rule.id, "updated" if row and not row.deleted else "created", saved.version))
            if prune:
                for rule_id in sorted(set(current) - set(ids)):
                    row = current[rule_id]
                    if not row.deleted:
                        saved = await self._write(conn, row, rule_id, row.spec, True, actor)
                        changed.append(saved)
                        results.append(Applied(rule_id, "deleted", saved.version))
            await self._publish(changed)
        return results

    async def publish_all(self, topic_id: str) -> int | None:
        """Republish the latest record of every rule, deleted ones too, into the topic with this id;
        None if that was done already.

        The embedded broker forgets on restart; api/republish.py says when and why.
        """
        async with connection(self._db) as conn:
            async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                # FOR SHARE: a change in flight finishes first, so an older version never lands after a newer one.
                await cur.execute(sql.SQL("SELECT {c} FROM rules ORDER BY id FOR SHARE").format(c=_COLUMNS))
                rows = [StoredRule(**row) for row in await cur.fetchall()]
                if not await republish.claim(cur, self._topic, topic_id, len(rows)):
                    return None
                await self._publish(rows)
        return len(rows)

    # --- internals ---

    @asynccontextmanager
    async def _changing(self, rule_id: str) -> AsyncIterator[AsyncConnection]:
        """A transaction; a concurrent insert of the same new id surfaces as Conflict."""
        if self._publisher is None:
            raise Unavailable("this rule store is read-only (no Kafka producer)")
        try:
            async with connection(self._db) as conn, conn.transaction():
                yield conn
        except UniqueViolation:
            raise Conflict(rule_id, f"rule {rule_id} was created by a concurrent request; retry") from None

    async def _lock(self, conn: AsyncConnection, rule_id: str) -> StoredRule | None:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_LOCK_ONE, (rule_id,))
            row = await cur.fetchone()
        return None if row is None else StoredRule(**row)

    async def _live(self, conn: AsyncConnection, rule_id: str, expected_version: int | None) -> StoredRule:
        current = await self._lock(conn, rule_id)
        if current is None or current.deleted:
            gone = f" (deleted at version {current.version})" if current else ""
            raise NotFound(rule_id, f"no rule with id {rule_id}{gone}")
        if expected_version is not None and expected_version != current.version:
            raise VersionConflict(rule_id, f"rule {rule_id} is at version {current.version}, "
                                           f"not {expected_version}: read it again and retry")
        return current

    async def _write(self, conn: AsyncConnection, current: StoredRule | None, rule_id: str, spec: dict,
                     deleted: bool, actor: str) -> StoredRule:
        """Save the next version of `rule_id` in the open transaction (the row is locked by the caller)."""
        now = self._now()
        if current is None:
            saved = StoredRule(rule_id, 1, deleted, spec, now, now, actor)
            await conn.execute(_INSERT, (rule_id, 1, Jsonb(spec), deleted, now, now, actor))
        else:
            saved = StoredRule(rule_id, current.version + 1, deleted, spec, current.created_at, now, actor)
            cur = await conn.execute(_UPDATE, (saved.version, Jsonb(spec), deleted, now, actor,
                                               rule_id, current.version))
            if cur.rowcount != 1:  # unreachable while the row is locked; a guard, not a code path
                raise Conflict(rule_id, f"rule {rule_id} changed concurrently; retry")
        await conn.execute(_INSERT_VERSION, (rule_id, saved.version, Jsonb(spec), deleted, now, actor))
        return saved

    async def _publish(self, rules: list[StoredRule]) -> None:
        """Produce one RuleRecord per rule and wait for every delivery report; Unavailable if any failed."""
        records = []
        for rule in rules:
            record: RuleRecord = {"id": rule.id, "version": rule.version, "deleted": rule.deleted,
                                  "spec": canonical(rule.spec),
                                  "updated_at_ms": int(rule.updated_at.timestamp() * 1000),
                                  "updated_by": rule.updated_by}
            records.append(Record(rule.id.encode(), self._codec.encode(record)))
        await self._publisher.publish(records)
