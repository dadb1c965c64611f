"""`/api/v1/incidents`: incidents from Postgres (list, detail with timeline) and operators' commands on them.

Acknowledge, resolve and escalate don't change Postgres: they become a Command on the commands
topic (api/incident_commands.py); the streams worker applies it and publishes the transition,
which the Postgres sink stores. So a 202 means "the worker will see it", not "it is done".
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api import audit, label_filters
from api.auth import Principal
from api.deps import DbDep, OperatorKey
from api.errors import BadParam, StoreUnavailable
from api.incident_commands import CommandNotAcked, IncidentCommands
from api.models.incidents import (CommandAccepted, IncidentCommandIn, IncidentDetail, IncidentPage, IncidentStatus,
                                  TimelineDelivery, TimelineEvent)
from api.timerange import parse_time
from schemas.records import CommandAction

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

MAX_FILTERS = 20
MAX_NAME_CHARS = 200
MAX_CURSOR_CHARS = 300
INCIDENT_KEY = r"^[0-9a-f]{16}\.[0-9]{1,18}$"  # "<group id>.<episode>" (schemas/avro/incident_event.avsc)
Sort = Literal["-updated_at", "-opened_at", "opened_at"]
# sort → (column, descending); the column is a fixed identifier, never text from the request.
_SORTS: dict[str, tuple[str, bool]] = {"-updated_at": ("updated_at", True), "-opened_at": ("opened_at", True),
                                       "opened_at": ("opened_at", False)}
_DONE: dict[str, str] = {"ACKNOWLEDGE": "acknowledged", "RESOLVE": "resolved", "ESCALATE": "escalated"}
_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "incident_key", "group_key", "group_labels", "route", "receiver", "escalation_policy", "status", "title",
    "severity", "firing", "fingerprints", "opened_at", "acknowledged_at", "acknowledged_by", "resolved_at",
    "resolved_by", "escalated_at", "updated_at", "sequence")))
_PAGE = sql.SQL("SELECT {columns} FROM incidents WHERE {where} "
                "ORDER BY {column} {direction}, incident_key {direction} LIMIT %s")
_DETAIL = sql.SQL("SELECT {columns} FROM incidents WHERE incident_key = %s").format(columns=_COLUMNS)
_STATUS = "SELECT status, resolved_at FROM incidents WHERE incident_key = %s"
# Milliseconds computed in Postgres: extract() is exact (numeric), a Python float of the datetime isn't.
_EVENTS = ("SELECT event_time AS at, (extract(epoch FROM event_time) * 1000)::bigint AS event_time_ms, sequence, "
           "status, previous_status, reason, actor, comment, notified, firing "
           "FROM incident_events WHERE incident_key = %s ORDER BY event_time, sequence")
# Pages of an incident carry its key as dedup key (the notifier's Delivery records).
_DELIVERIES = ("SELECT attempted_at AS at, (extract(epoch FROM attempted_at) * 1000)::bigint AS attempted_at_ms, "
               "receiver, action, sequence, attempt, status, http_status, response, latency_ms "
               "FROM deliveries WHERE dedup_key = %s ORDER BY attempted_at, attempt")
_ERRORS = {422: {"description": "a bad parameter or body; `errors[].loc` names it"}}
_COMMAND_ERRORS = {404: {"description": "no incident with this key"},
                   409: {"description": "the incident is already resolved"},
                   503: {"description": "Kafka did not acknowledge the command in time; retry"},
                   **_ERRORS}


class IncidentProblem(Exception):
    """A request about an incident that can't be served (unknown key, already resolved)."""

    def __init__(self, status: int, loc: list[str], msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.loc = loc
        self.msg = msg


def install(app: FastAPI) -> None:
    """Answer IncidentProblem in the API's error shape (`detail` + `errors`)."""

    @app.exception_handler(IncidentProblem)
    async def refused(request: Request, exc: IncidentProblem) -> JSONResponse:
        return JSONResponse({"detail": f"{exc.loc[-1]}: {exc.msg}", "errors": [{"loc": exc.loc, "msg": exc.msg}]},
                            status_code=exc.status)


def _commands(request: Request) -> IncidentCommands:
    return request.app.state.incident_commands


CommandsDep = Annotated[IncidentCommands, Depends(_commands)]
IncidentKey = Annotated[str, Path(pattern=INCIDENT_KEY, description="<group id: 16 hex digits>.<episode>",
                                  examples=["9f3c2a1b4d5e6f70.3"])]


# --- list parameters ---

def _statuses(values: list[str]) -> list[str]:
    allowed = {s.value for s in IncidentStatus}
    for value in values:
        if value.upper() not in allowed:
            raise BadParam("query", "status", f"{value[:40]!r} is not one of {', '.join(sorted(allowed)).lower()}")
    return sorted({value.upper() for value in values})


def _names(name: str, values: list[str]) -> list[str]:
    if any(len(value) > MAX_NAME_CHARS for value in values):
        raise BadParam("query", name, f"longer than {MAX_NAME_CHARS} characters")
    return values


def _instant(name: str, text: str) -> datetime:
    return datetime.fromtimestamp(parse_time(name, text), tz=timezone.utc)


def _encode_cursor(sort: str, at: datetime, key: str) -> str:
    raw = json.dumps([sort, at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[datetime, str]:
    """The sort key inside a cursor issued for this `sort`; BadParam naming `cursor` otherwise."""
    problem = BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise problem
    try:
        issued_for, stamp, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError):
        raise problem from None
    if not isinstance(key, str) or at.tzinfo is None or issued_for not in _SORTS:
        raise problem
    if issued_for != sort:
        raise BadParam("query", "cursor", f"issued for sort={issued_for}; repeat that sort with this cursor")
    return at, key


# --- routes ---

@router.get("", response_model=IncidentPage, responses=_ERRORS)
async def list_incidents(
    pool: DbDep,
    status: Annotated[list[str], Query(description="open, acknowledged, escalated, critical or resolved "
                                                   "(any case); repeat for several")] = [],
    receiver: Annotated[list[str], Query(description="repeat for several")] = [],
    severity: Annotated[list[str], Query(description="repeat for several")] = [],
    label: Annotated[list[str], Query(description="name=value on the group labels; every one must match",
                                      examples=["env=prod"])] = [],
    since: Annotated[str | None, Query(description="opened at or after: unix seconds or RFC 3339")] = None,
    until: Annotated[str | None, Query(description="opened before: unix seconds or RFC 3339")] = None,
    sort: Annotated[Sort, Query(description="-updated_at (latest change first), -opened_at or opened_at")
                    ] = "-updated_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page (same sort)")] = None,
) -> IncidentPage:
    """Incidents, filtered, in the requested order, one page at a time."""
    if len(status) + len(receiver) + len(severity) + len(label) > MAX_FILTERS:
        raise BadParam("query", "label", f"at most {MAX_FILTERS} filters in one request")
    where, args = [sql.SQL("TRUE")], []
    if status:
        where.append(sql.SQL("status = ANY(%s)"))
        args.append(_statuses(status))
    for name, values in (("receiver", receiver), ("severity", severity)):
        if values:
            where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(name)))
            args.append(_names(name, values))
    for matcher in [{name: value} for name, value in label_filters.parse(label)]:
        where.append(sql.SQL("group_labels @> %s"))
        args.append(Jsonb(matcher))
    start = _instant("since", since) if since is not None else None
    end = _instant("until", until) if until is not None else None
    if start is not None and end is not None and end < start:
        raise BadParam("query", "until", "until is before since")
    if start is not None:
        where.append(sql.SQL("opened_at >= %s"))
        args.append(start)
    if end is not None:
        where.append(sql.SQL("opened_at < %s"))
        args.append(end)
    column, descending = _SORTS[sort]
    if cursor is not None:
        where.append(sql.SQL("({}, incident_key) {} (%s, %s)").format(
            sql.Identifier(column), sql.SQL("<" if descending else ">")))
        args.extend(_decode_cursor(cursor, sort))
    query = _PAGE.format(columns=_COLUMNS, where=sql.SQL(" AND ").join(where), column=sql.Identifier(column),
                         direction=sql.SQL("DESC" if descending else "ASC"))
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*args, limit + 1])
        rows = await cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(sort, rows[-1][column], rows[-1]["incident_key"]) if more else None
    return IncidentPage(items=rows, next_cursor=next_cursor)


@router.get("/{key}", response_model=IncidentDetail,
            responses={404: {"description": "no incident with this key"}, **_ERRORS})
async def get_incident(pool: DbDep, key: IncidentKey) -> IncidentDetail:
    """One incident with its timeline: transitions and delivery attempts of its pages, oldest first."""
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_DETAIL, (key,))
        incident = await cur.fetchone()
        if incident is None:
            raise IncidentProblem(404, ["path", "key"], f"no incident with key {key}")
        await cur.execute(_EVENTS, (key,))
        events = [TimelineEvent(**row) for row in await cur.fetchall()]
        await cur.execute(_DELIVERIES, (key,))
        deliveries = [TimelineDelivery(**row) for row in await cur.fetchall()]
    # At the same instant the transition comes first: it is what the page announces.
    timeline = sorted([*events, *deliveries], key=lambda entry: (entry.at, entry.kind != "event", entry.sequence,
                                                                getattr(entry, "attempt", 0)))
    return IncidentDetail(**incident, timeline=timeline)


async def _issue(pool, commands: IncidentCommands, key: str, action: CommandAction,
                 body: IncidentCommandIn, who: Principal) -> CommandAccepted:
    """Check the incident exists and is not resolved, then publish the command and await Kafka's ack."""
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.execute(_STATUS, (key,))
        found = await cur.fetchone()
    if found is None:
        raise IncidentProblem(404, ["path", "key"], f"no incident with key {key}")
    if found[0] == IncidentStatus.RESOLVED.value:
        raise IncidentProblem(409, ["path", "key"], f"incident {key} is already resolved (at "
                                                    f"{found[1].isoformat() if found[1] else 'an unknown time'}); "
                                                    f"it can't be {_DONE[action]}")
    try:
        command = await commands.issue(key, action, body.actor or who.name, body.comment)
    except CommandNotAcked as exc:
        raise StoreUnavailable("kafka", f"{exc}; the command was not accepted, retry") from None
    accepted = CommandAccepted(command_id=command["command_id"], incident_key=key, action=action)
    await audit.record(pool, who, f"incident.{action.lower()}", key, {"status": found[0]},
                       {**accepted.model_dump(), "actor": body.actor or who.name, "comment": body.comment})
    return accepted


@router.post("/{key}/acknowledge", status_code=202, response_model=CommandAccepted,
             responses=_COMMAND_ERRORS)
async def acknowledge(pool: DbDep, commands: CommandsDep, key: IncidentKey, body: IncidentCommandIn,
                      who: OperatorKey) -> CommandAccepted:
    """Acknowledge an incident: escalation stops; answered once Kafka has the command."""
    return await _issue(pool, commands, key, "ACKNOWLEDGE", body, who)


@router.post("/{key}/resolve", status_code=202, response_model=CommandAccepted,
             responses=_COMMAND_ERRORS)
async def resolve(pool: DbDep, commands: CommandsDep, key: IncidentKey, body: IncidentCommandIn,
                  who: OperatorKey) -> CommandAccepted:
    """Resolve an incident by hand; answered once Kafka has the command."""
    return await _issue(pool, commands, key, "RESOLVE", body, who)


@router.post("/{key}/escalate", status_code=202, response_model=CommandAccepted,
             responses=_COMMAND_ERRORS)
async def escalate(pool: DbDep, commands: CommandsDep, key: IncidentKey, body: IncidentCommandIn,
                   who: OperatorKey) -> CommandAccepted:
    """Escalate an incident now, without waiting for its policy's timeout; answered once Kafka has the command."""
    return await _issue(pool, commands, key, "ESCALATE", body, who)
