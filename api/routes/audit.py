"""`/api/v1/audit`: the audit log of every write through the API, newest first, for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from psycopg.rows import dict_row

from api.deps import AdminKey, DbDep
from api.errors import BadParam
from api.models.audit import AuditEntry, AuditPage
from api.timerange import parse_time

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

_COLUMNS = "id, at, key_id, key_name, role, action, resource, resource_id, before, after, remote"
_FILTERS = {"action": "action = %s", "resource": "resource = %s", "resource_id": "resource_id = %s",
            "key_id": "key_id = %s"}


def _cursor(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    return int(text)


@router.get("", response_model=AuditPage)
async def list_audit(
    pool: DbDep, who: AdminKey,
    action: Annotated[str | None, Query(max_length=100, examples=["silence.create"])] = None,
    resource: Annotated[str | None, Query(max_length=100, examples=["rule"])] = None,
    resource_id: Annotated[str | None, Query(max_length=300)] = None,
    key_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40, description="unix seconds or RFC 3339")] = None,
    until: Annotated[str | None, Query(max_length=40, description="unix seconds or RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=40, description="next_cursor of the previous page")] = None,
) -> AuditPage:
    """Writes through the API, newest first, filtered by action, resource, key and time. Admins only."""
    where, args = [], []
    for name, value in (("action", action), ("resource", resource), ("resource_id", resource_id),
                        ("key_id", key_id)):
        if value is not None:
            where.append(_FILTERS[name])
            args.append(value)
    if since is not None:
        where.append("at >= to_timestamp(%s)")
        args.append(parse_time("since", since))
    if until is not None:
        where.append("at <= to_timestamp(%s)")
        args.append(parse_time("until", until))
    if cursor is not None:
        where.append("id < %s")
        args.append(_cursor(cursor))
    query = (f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where) or 'TRUE'} "
             f"ORDER BY id DESC LIMIT %s")
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (*args, limit + 1))
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(items=[AuditEntry(**row) for row in rows], next_cursor=str(rows[-1]["id"]) if more else None)
