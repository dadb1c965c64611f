"""`/api/v1/alerts`: current alerts from Postgres, filtered and paged by keyset; one alert in detail."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api import cursor as cursors, label_filters
from api.deps import DbDep
from api.errors import BadParam
from api.models.alerts import AlertDetail, AlertPage, AlertStatus

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

MAX_FILTERS = 20
MAX_NAME_CHARS = 200
_ALERT_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "fingerprint", "rule_id", "rule_version", "alertname", "status", "severity", "labels", "annotations",
    "value", "sequence", "starts_at", "ends_at", "updated_at")))
_PAGE = sql.SQL("SELECT {columns} FROM alerts WHERE {where} ORDER BY updated_at DESC, fingerprint DESC LIMIT %s")
_DETAIL = sql.SQL("SELECT {columns} FROM alerts WHERE fingerprint = %s")
_HISTORY = ("SELECT sequence, status, value, labels, annotations, event_time, recorded_at "
            "FROM alert_events WHERE fingerprint = %s ORDER BY event_time, sequence")
# Pages are per incident (a group of alerts): an alert's deliveries are those of every incident that held it.
_DELIVERIES = ("SELECT receiver, action, sequence, attempt, status, http_status, response, latency_ms, attempted_at "
               "FROM deliveries WHERE fingerprint = %s OR dedup_key IN ("
               "SELECT DISTINCT incident_key FROM incident_events WHERE fingerprints @> jsonb_build_array(%s::text)) "
               "ORDER BY attempted_at, attempt")


def _finite(row: dict) -> dict:
    """Rows with a NaN/Inf value answer null: JSON has no such numbers."""
    if row.get("value") is not None and not math.isfinite(row["value"]):
        row["value"] = None
    return row


def _statuses(values: list[str]) -> list[str]:
    try:
        return sorted({AlertStatus(value.upper()).value for value in values})
    except ValueError:
        allowed = ", ".join(s.value.lower() for s in AlertStatus)
        bad = next(v for v in values if v.upper() not in AlertStatus.__members__)
        raise BadParam("query", "status", f"{bad[:40]!r} is not one of {allowed}") from None


def _one_of(where: list, args: list, column: str, values: list[str]) -> None:
    """`column = value` for one value, else `= ANY(values)`: Postgres 15 walks the (column, updated_at DESC, …)
    index in page order only for `=`, so the common one-value filter reads 100 rows instead of sorting them all."""
    if len(values) == 1:
        where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
        args.append(values[0])
    else:
        where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
        args.append(values)


@router.get("", response_model=AlertPage)
async def list_alerts(
    pool: DbDep,
    status: Annotated[list[str], Query(description="pending, firing or resolved; repeat for several")] = [],
    severity: Annotated[list[str], Query(description="repeat for several")] = [],
    alertname: Annotated[str | None, Query(max_length=MAX_NAME_CHARS)] = None,
    label: Annotated[list[str], Query(description="name=value; every one must match",
                                      examples=["host=web-9"])] = [],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> AlertPage:
    """Alerts, most recently changed first."""
    if len(status) + len(severity) + len(label) > MAX_FILTERS:
        raise BadParam("query", "label", f"at most {MAX_FILTERS} filters in one request")
    where, args = [sql.SQL("TRUE")], []
    if status:
        _one_of(where, args, "status", _statuses(status))
    if severity:
        if any(len(value) > MAX_NAME_CHARS for value in severity):
            raise BadParam("query", "severity", f"longer than {MAX_NAME_CHARS} characters")
        _one_of(where, args, "severity", sorted(set(severity)))
    if alertname is not None:
        where.append(sql.SQL("alertname = %s"))
        args.append(alertname)
    for matcher in [{name: value} for name, value in label_filters.parse(label)]:
        where.append(sql.SQL("labels @> %s"))
        args.append(Jsonb(matcher))
    if cursor is not None:
        where.append(sql.SQL("(updated_at, fingerprint) < (%s, %s)"))
        args.extend(cursors.decode(cursor))
    query = _PAGE.format(columns=_ALERT_COLUMNS, where=sql.SQL(" AND ").join(where))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*args, limit + 1])
        rows = [_finite(row) for row in await cur.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = cursors.encode(rows[-1]["updated_at"], rows[-1]["fingerprint"]) if more else None
    return AlertPage(items=rows, next_cursor=next_cursor)


@router.get("/{fingerprint}", response_model=AlertDetail, responses={404: {"description": "no such alert"}})
async def get_alert(
    pool: DbDep,
    fingerprint: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="16 lower-case hex digits")],
) -> AlertDetail:
    """One alert with its transitions (oldest first) and the delivery attempts of its pages."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DETAIL.format(columns=_ALERT_COLUMNS), (fingerprint,))
        alert = await cur.fetchone()
        if alert is None:
            raise HTTPException(404, f"no alert with fingerprint {fingerprint}")
        await cur.execute(_HISTORY, (fingerprint,))
        history = [_finite(row) for row in await cur.fetchall()]
        await cur.execute(_DELIVERIES, (fingerprint, fingerprint))
        deliveries = await cur.fetchall()
    return AlertDetail(**_finite(alert), history=history, deliveries=deliveries)
