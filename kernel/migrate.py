"""Apply `kernel/migrations/NNN_*.sql` in order, once each, under an advisory lock."""

from __future__ import annotations

import re
from importlib import resources

import psycopg

_LOCK_ID = 0x76_69_67_69_6C  # "vigil": serialises concurrent starts of several processes
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def pending_files() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    folder = resources.files("kernel").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def migrate(dsn: str) -> list[str]:
    """Bring the database up to date; returns the names of the migrations applied now."""
    applied_now = []
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in pending_files():
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied_now.append(name)
        conn.commit()
    return applied_now
