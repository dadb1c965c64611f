"""API keys and agent ingest tokens in Postgres: made here, shown once, stored as a SHA-256 digest.

A key reads `vk_<id>_<secret>`: the id is public (it names the key in lists and in the audit
log), the secret is 32 random bytes. Only sha256(key) is stored, and a key is found by that
digest, so Postgres never holds anything that authenticates. Keys are random, not chosen by
people, so a fast hash is enough (no password stretching needed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from kernel.db import connection

KEY_PREFIX = "vk_"
ID_BYTES = 6
SECRET_BYTES = 32


class Role(str, Enum):
    """What a key may do. API roles are ordered (viewer < operator < admin); `ingest` only writes samples."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    INGEST = "ingest"

    def allows(self, needed: Role) -> bool:
        """True when a key of this role may do what `needed` may."""
        if self is Role.INGEST or needed is Role.INGEST:
            return self is needed
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


class KeyChangeError(ValueError):
    """A key change the store refused (a live key already has the name; no such key)."""


@dataclass(frozen=True)
class ApiKey:
    """A key as stored (never its secret)."""

    id: str
    name: str
    role: Role
    labels: dict[str, str] = field(default_factory=dict)
    rate_per_s: float | None = None
    burst: int | None = None
    created_at: datetime | None = None
    created_by: str = ""
    revoked_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What lists and the audit log show of the key."""
        return {"id": self.id, "name": self.name, "role": self.role.value, "labels": self.labels,
                "rate_per_s": self.rate_per_s, "burst": self.burst,
                "created_at": self.created_at.isoformat() if self.created_at else None,
                "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def presented_key(authorization: str) -> str | None:
    """The key in an Authorization header value: `Bearer`/`Token <key>`, or basic auth's password; else None.

    Basic auth with the key as password is what Grafana's data sources, Prometheus' `basic_auth` and
    Telegraf's influx output send; `Token` is the InfluxDB clients' scheme.
    """
    scheme, _, credentials = authorization.strip().partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if scheme in ("bearer", "token"):
        return credentials or None
    if scheme == "basic":
        try:
            _, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


def digest(key: str) -> bytes:
    """What is stored of a key, and what a presented key is looked up by."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def new_key() -> tuple[str, str]:
    """A fresh (id, key)."""
    key_id = secrets.token_hex(ID_BYTES)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


_COLUMNS = "id, name, role, labels, rate_per_s, burst, created_at, created_by, revoked_at"


def _key(row: dict[str, Any]) -> ApiKey:
    return ApiKey(id=row["id"], name=row["name"], role=Role(row["role"]), labels=row["labels"] or {},
                  rate_per_s=row["rate_per_s"], burst=row["burst"], created_at=row["created_at"],
                  created_by=row["created_by"], revoked_at=row["revoked_at"])


class KeyStore:
    """Creates, lists, revokes and looks up keys; `db` is a pool (the API) or one connection (CLI, tests)."""

    def __init__(self, db: AsyncConnectionPool | AsyncConnection) -> None:
        self.db = db

    async def create(self, name: str, role: Role, created_by: str, labels: dict[str, str] | None = None,
                     rate_per_s: float | None = None, burst: int | None = None) -> tuple[ApiKey, str]:
        """Store a new key; (its record, the key itself, which is never available again)."""
        key_id, key = new_key()
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            try:
                await cur.execute(
                    f"INSERT INTO api_keys (id, name, role, digest, labels, rate_per_s, burst, created_by) "
                    f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                    (key_id, name, role.value, digest(key), Jsonb(labels or {}), rate_per_s, burst, created_by))
            except UniqueViolation:
                raise KeyChangeError(f"a live key is already named {name!r}: revoke it first or pick another name") from None
            row = await cur.fetchone()
            if row is None:  # RETURNING gives the inserted row: none means the store dropped the insert (our bug)
                raise RuntimeError(f"api_keys did not return the key {key_id} it was asked to insert")
            return _key(row), key

    async def by_key(self, key: str) -> ApiKey | None:
        """The live key this is, or None (unknown or revoked)."""
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE digest = %s AND revoked_at IS NULL",
                              (digest(key),))
            row = await cur.fetchone()
        return _key(row) if row else None

    async def get(self, key_id: str) -> ApiKey | None:
        """A key by id, live or revoked."""
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
            row = await cur.fetchone()
        return _key(row) if row else None

    async def list(self, roles: list[Role] | None = None, include_revoked: bool = False) -> list[ApiKey]:
        """Keys by creation time; only `roles` when given."""
        where, args = ["TRUE"], []
        if roles:
            where.append("role = ANY(%s)")
            args.append([r.value for r in roles])
        if not include_revoked:
            where.append("revoked_at IS NULL")
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE {' AND '.join(where)} ORDER BY created_at, id",
                              args)
            return [_key(row) for row in await cur.fetchall()]

    async def revoke(self, key_id: str) -> tuple[ApiKey, ApiKey]:
        """Revoke a live key; (before, after). KeyChangeError when there is no live key with this id."""
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s AND revoked_at IS NULL", (key_id,))
            row = await cur.fetchone()
            if row is None:
                raise KeyChangeError(f"no live key with id {key_id!r}")
            await cur.execute(f"UPDATE api_keys SET revoked_at = now() WHERE id = %s RETURNING {_COLUMNS}", (key_id,))
            revoked = await cur.fetchone()
            if revoked is None:  # the row went away since the SELECT above
                raise KeyChangeError(f"no live key with id {key_id!r}")
            return _key(row), _key(revoked)

    async def ingest_tokens(self) -> dict[bytes, ApiKey]:
        """Every live ingest token by digest (ingest polls this)."""
        async with connection(self.db) as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(f"SELECT digest, {_COLUMNS} FROM api_keys WHERE role = 'ingest' AND revoked_at IS NULL")
            return {bytes(row["digest"]): _key(row) for row in await cur.fetchall()}

    async def ingest_tokens_ever_created(self) -> bool:
        """True once any ingest token was created, live or revoked (ingest then keeps requiring tokens)."""
        async with connection(self.db) as conn, conn.cursor() as cur:
            await cur.execute("SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'ingest')")
            row = await cur.fetchone()  # SELECT EXISTS always answers one row
            return row is not None and bool(row[0])
