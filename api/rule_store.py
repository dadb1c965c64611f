"""The rule store: rules in Postgres with a version per change, each change published to the rules topic.

A versioned store (api/versioned_store.py, which holds the publishing contract: a change is
committed only once Kafka acknowledged its RuleRecord, else the caller gets `Unavailable`). What is
the rules' own: the spec column, the record, the filters of the listing, that a live id can't be
created again (a deleted one can, continuing its numbering), and `apply`, which makes the store hold
a rules file in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from confluent_kafka import Producer
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from api.publisher import PUBLISH_TIMEOUT_S
from api.versioned_store import Refusals, StoreError, Tables, VersionedStore, utc_now
from kernel.db import connection
from kernel.rules import Rule
from schemas import codec
from schemas.records import RuleRecord
from schemas.topics import Topics

Action = Literal["created", "updated", "unchanged", "deleted"]
DEFAULT_TYPE = Rule.model_fields["type"].default  # rule.spec() leaves defaults out


class RuleStoreError(StoreError):
    """A change the store refused; `rule_id` names the rule."""

    @property
    def rule_id(self) -> str:
        return self.item_id


class NotFound(RuleStoreError):
    """No live rule with this id."""


class Conflict(RuleStoreError):
    """The change contradicts the stored state (the id is taken, or the rule changed concurrently)."""


class VersionConflict(Conflict):
    """The caller expected another version than the current one (If-Match)."""


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


class RuleStore(VersionedStore[StoredRule, RuleVersion]):
    """Create, read, update and delete rules; every change is a new version, saved only once Kafka has it."""

    kind = "rule"
    tables = Tables("rules", "rule_versions", fields=("spec",), json_fields=("spec",))
    item_type = StoredRule
    version_type = RuleVersion
    refusals = Refusals(NotFound, Conflict, VersionConflict)

    def __init__(self, db: AsyncConnectionPool | AsyncConnection, producer: Producer | None, topics: Topics,
                 publish_timeout_s: float = PUBLISH_TIMEOUT_S, now: Callable[[], datetime] = utc_now) -> None:
        super().__init__(db, producer, topics.rules, codec.rule(), publish_timeout_s, now)

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
        async with connection(self._db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._select(sql.SQL(" AND ").join(where), "ORDER BY id LIMIT %s"), [*args, limit])
            return [self._item(row) for row in await cur.fetchall()]

    # --- changes ---

    async def create(self, rule: Rule, actor: str) -> StoredRule:
        """Save a new rule as version 1 (or the next version of a deleted id); Conflict if the id is live."""
        async with self._changing(rule.id) as conn:
            current = await self._lock(conn, rule.id)
            if current is not None and not current.deleted:
                raise Conflict(rule.id, f"rule {rule.id} already exists (version {current.version}); "
                                        "replace it with PUT or delete it first")
            saved = await self._save(conn, current, rule.id, actor, spec=json.loads(rule.spec_json()), deleted=False)
            await self._publish([saved])
        return saved

    async def replace(self, rule_id: str, rule: Rule, actor: str, expected_version: int | None = None) -> StoredRule:
        """Save a new version of a live rule; an unchanged spec returns the current version untouched."""
        if rule.id != rule_id:
            raise Conflict(rule_id, f"the rule's id {rule.id} is not {rule_id}")
        spec = rule.spec_json()
        return await self._change(rule_id, actor, expected_version, lambda current: (
            None if canonical(current.spec) == spec else {"spec": json.loads(spec), "deleted": False}))

    async def delete(self, rule_id: str, actor: str, expected_version: int | None = None) -> StoredRule:
        """Save a deleted version of a live rule (its spec kept) and publish it."""
        return await self._change(rule_id, actor, expected_version, lambda current: {"deleted": True})

    async def apply(self, rules: list[Rule], actor: str, prune: bool = False) -> list[Applied]:
        """Make the store hold `rules` (one transaction): create, update, leave, and with prune delete the rest."""
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            twice = next(i for i in ids if ids.count(i) > 1)
            raise Conflict(twice, f"rule {twice} appears more than once")
        async with self._changing(ids[0] if len(ids) == 1 else "in the file") as conn, \
                conn.cursor(row_factory=dict_row) as cur:
            # One lock order (by id) for every apply, so two concurrent applies wait instead of deadlocking.
            await cur.execute(self._select(sql.SQL("id = ANY(%s) OR (%s AND NOT deleted)"), "ORDER BY id FOR UPDATE"),
                              (ids, prune))
            current = {row["id"]: self._item(row) for row in await cur.fetchall()}
            results, changed = [], []
            for rule in rules:
                row = current.get(rule.id)
                if row is not None and not row.deleted and canonical(row.spec) == rule.spec_json():
                    results.append(Applied(rule.id, "unchanged", row.version))
                    continue
                saved = await self._save(conn, row, rule.id, actor, spec=json.loads(rule.spec_json()), deleted=False)
                changed.append(saved)
                results.append(Applied(rule.id, "updated" if row and not row.deleted else "created", saved.version))
            if prune:
                for rule_id in sorted(set(current) - set(ids)):
                    row = current[rule_id]
                    if not row.deleted:
                        saved = await self._save(conn, row, rule_id, actor, deleted=True)
                        changed.append(saved)
                        results.append(Applied(rule_id, "deleted", saved.version))
            await self._publish(changed)
        return results

    # --- what a rule adds to the versioned store ---

    async def _changeable(self, conn: AsyncConnection, rule_id: str, expected_version: int | None) -> StoredRule:
        """The locked current version, if the rule is live (a deleted rule is not found) and at the version
        the caller expects."""
        current = await self._lock(conn, rule_id)
        if current is None or current.deleted:
            gone = f" (deleted at version {current.version})" if current else ""
            raise NotFound(rule_id, f"no rule with id {rule_id}{gone}")
        self._expect_version(current, expected_version)
        return current

    def _record(self, rule: StoredRule) -> RuleRecord:
        """The rule as published on the rules topic: its spec canonical, so equal rules publish equal records."""
        return {"id": rule.id, "version": rule.version, "deleted": rule.deleted, "spec": canonical(rule.spec),
                "updated_at_ms": int(rule.updated_at.timestamp() * 1000), "updated_by": rule.updated_by}
