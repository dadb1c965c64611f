"""`/api/v1/silences`: create, list, read, replace and expire silences (stored in Postgres, published to Kafka).

Silences behave as Alertmanager's (https://prometheus.io/docs/alerting/latest/alertmanager/#silences):
matchers, a start (default now; a start in the past becomes now, as Alertmanager does) and an end
(`ends_at`, or `duration` from the start), the creator and a required comment. DELETE expires:
the silence ends now and stays listed as expired. Matchers may be written as Prometheus text
(`host=~"web-.*"`), as `{name, op, value}`, or as Alertmanager v2's `{name, value, isRegex, isEqual}`
so amtool-style clients can post theirs.

Bad bodies are answered through the rules routes' handlers (RequestProblem → 4xx, Unavailable →
503 with Retry-After), so both resources share one error shape; `install` adds the store's errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api import audit
from api import cursor as cursors
from api.deps import DbDep, OperatorKey
from api.errors import BadParam
from api.models.silences import (SILENCE_EXAMPLES, SilenceHistory, SilenceIn, SilenceMatcherOut, SilenceOut,
                                 SilencePage, SilenceVersionOut)
from api.request_body import RequestProblem, answer, expected_version, json_object, problem, text_problem
from api.silence_store import (Conflict, NotFound, SilenceSpec, SilenceStore, SilenceStoreError, StoredSilence,
                               VersionConflict)
from kernel.alerting.silences import OPS, STATES, silences_everything
from kernel.matchers import Matcher, MatcherError, parse_matcher
from kernel.names import LABEL_NAME_SYNTAX, is_label_name
from kernel.rules import parse_duration

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])

MAX_BODY_BYTES = 64 * 1024
MAX_MATCHERS = 64
MAX_NAME_CHARS = 128  # label names, as ingest accepts them
MAX_VALUE_BYTES = 1024
MAX_COMMENT_BYTES = 4096
MAX_FILTERS = 64
MAX_PROBLEMS = 20
SILENCE_ID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
FIELDS = tuple(SilenceIn.model_fields)
_SET_BY_STORE = ("id", "version", "state", "created_at", "updated_at", "updated_by")
_ALERTMANAGER_NAMES = {"startsAt": "starts_at", "endsAt": "ends_at", "createdBy": "created_by"}
_MATCHER_TEXT = 'a string like name="value", name!="v", name=~"re", name!~"re"'
_STATUS = {NotFound: 404, VersionConflict: 412, Conflict: 409}

_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": SilenceIn.model_json_schema(), "examples": SILENCE_EXAMPLES}}}}
_ERRORS = {413: {"description": "body over 64 KB"},
           422: {"description": "the silence is invalid; `errors[].loc` names the field, e.g. body.matchers.0"},
           503: {"description": "Kafka or Postgres did not answer: nothing was saved, retry"}}
_MISSING = {404: {"description": "no silence with this id"}}
_CHANGED = {409: {"description": "the silence has expired: it can't change any more"},
            412: {"description": "If-Match names another version than the current one"}}


def install(app: FastAPI) -> None:
    """Map the silence store's refusals onto 404/409/412 in the API's error shape."""

    @app.exception_handler(SilenceStoreError)
    async def refused(request: Request, exc: SilenceStoreError) -> JSONResponse:
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
        loc = ["header", "If-Match"] if status == 412 else ["path", "id"]
        return answer(status, [{"loc": loc, "msg": str(exc)}])


def _store(request: Request) -> SilenceStore:
    return request.app.state.silence_store


StoreDep = Annotated[SilenceStore, Depends(_store)]
SilenceId = Annotated[str, Path(pattern=SILENCE_ID, description="the silence's UUID")]


# --- request bodies ---

def _unknown_field(name: str) -> str:
    if name in _SET_BY_STORE:
        return "set by the silence store, not by the author (to guard against concurrent changes, " \
               'send If-Match: "<version>")'
    hint = f"; Alertmanager's {name} is {_ALERTMANAGER_NAMES[name]} here" if name in _ALERTMANAGER_NAMES else ""
    return f"unknown field; a silence takes {', '.join(FIELDS)}{hint}"


def _fields(document: dict) -> tuple[SilenceIn | None, list[dict]]:
    """The body's fields checked for presence and JSON type, and the problems found."""
    try:
        return SilenceIn.model_validate(document, strict=True), []
    except ValidationError as exc:
        problems, seen = [], set()
        for err in exc.errors():
            parts = [str(part) for part in err["loc"]]
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = _unknown_field(parts[0])
            elif err["type"] == "string_unicode":
                msg = "contains a lone UTF-16 surrogate (not valid Unicode)"
            elif parts[0] == "matchers" and len(parts) > 2:  # the union's branches each complain: say it once
                parts, msg = parts[:2], f"expected a matcher: {_MATCHER_TEXT}, or an object {{name, op, value}}"
            loc = ["body", *(part.replace("\x00", "\\0")[:80] for part in parts)]
            if tuple(loc) not in seen:
                seen.add(tuple(loc))
                problems.append({"loc": loc, "msg": msg})
        return None, problems


def _matcher(raw: str | dict, loc: list[str]) -> Matcher:
    """One matcher in any of the three accepted forms; RequestProblem naming its spot if it can't be used."""
    if isinstance(raw, str):
        try:
            matcher = parse_matcher(raw)
        except MatcherError as exc:
            raise problem(422, loc, str(exc)[:500]) from None
        name_loc = value_loc = loc
    else:
        name, op, value = _matcher_fields(raw, loc)
        name_loc, value_loc = [*loc, "name"], [*loc, "value"]
        if not is_label_name(name):
            raise problem(422, name_loc, f"{name[:80]!r} is not a label name {LABEL_NAME_SYNTAX}")
        try:
            matcher = Matcher.make(name, op, value)
        except MatcherError as exc:
            raise problem(422, value_loc, str(exc)[:500]) from None
    if len(matcher.name) > MAX_NAME_CHARS:
        raise problem(422, name_loc, f"label name longer than {MAX_NAME_CHARS} characters")
    if len(matcher.value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise problem(422, value_loc, f"value of {matcher.name} is longer than {MAX_VALUE_BYTES} bytes")
    if (why := text_problem(matcher.value)) is not None:
        raise problem(422, value_loc, f"value of {matcher.name} {why}")
    return matcher


def _matcher_fields(raw: dict, loc: list[str]) -> tuple[str, str, str]:
    """(name, op, value) of `{name, op, value}` or Alertmanager v2's `{name, value, isRegex, isEqual}`.

    https://github.com/prometheus/alertmanager/blob/main/api/v2/openapi.yaml (matcher: isEqual defaults to true)
    """
    alertmanager = "op" not in raw and ("isRegex" in raw or "isEqual" in raw)
    allowed = ("name", "value", "isRegex", "isEqual") if alertmanager else ("name", "op", "value")
    for key in raw:
        if key not in allowed:
            raise problem(422, [*loc, str(key)[:80]], f"unknown field; a matcher takes {', '.join(allowed)}"
                          + ("" if alertmanager else " (or Alertmanager's name, value, isRegex, isEqual)"))
    for key in ("name", "value", "isRegex") if alertmanager else ("name", "op", "value"):
        if key not in raw:
            raise problem(422, [*loc, key], "required")
    for key in ("name", "value", "op"):
        if key in raw and not isinstance(raw[key], str):
            raise problem(422, [*loc, key], f"must be a string, got {type(raw[key]).__name__}")
    if not alertmanager:
        if raw["op"] not in OPS:
            raise problem(422, [*loc, "op"], f"{raw['op'][:20]!r} is not one of {', '.join(OPS)}")
        return raw["name"], raw["op"], raw["value"]
    for key in ("isRegex", "isEqual"):
        if key in raw and not isinstance(raw[key], bool):
            raise problem(422, [*loc, key], f"must be true or false, got {type(raw[key]).__name__}")
    op = ("=~" if raw["isRegex"] else "=") if raw.get("isEqual", True) else ("!~" if raw["isRegex"] else "!=")
    return raw["name"], op, raw["value"]


@dataclass(frozen=True)
class _Draft:
    """A body whose fields are valid on their own; its times are resolved against the clock later."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    duration_s: float | None
    created_by: str
    comment: str


def _time(text: str, loc: list[str]) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise problem(422, loc, f"{text[:60]!r} is not an RFC 3339 time like 2026-12-01T22:00:00Z") from None
    if stamp.tzinfo is None:
        raise problem(422, loc, f"{text[:60]!r} has no time zone; add Z or +00:00")
    try:
        return stamp.astimezone(timezone.utc)
    except OverflowError:
        raise problem(422, loc, f"{text[:60]!r} is out of range") from None


async def _draft(request: Request) -> _Draft:
    """The silence in the request body, every field checked; RequestProblem listing what is wrong."""
    document = await json_object(request, MAX_BODY_BYTES, "silence")
    body, problems = _fields(document)
    if body is None:
        raise RequestProblem(422, problems[:MAX_PROBLEMS])
    matchers: list[Matcher] = []
    if not body.matchers:
        problems.append({"loc": ["body", "matchers"], "msg": "at least one matcher is required"})
    elif len(body.matchers) > MAX_MATCHERS:
        problems.append({"loc": ["body", "matchers"],
                         "msg": f"{len(body.matchers)} matchers; a silence takes at most {MAX_MATCHERS}"})
    else:
        for i, raw in enumerate(body.matchers):
            try:
                matchers.append(_matcher(raw, ["body", "matchers", str(i)]))
            except RequestProblem as exc:
                problems.extend(exc.problems)
        if len(matchers) == len(body.matchers) and silences_everything(matchers):
            problems.append({"loc": ["body", "matchers"], "msg": "at least one matcher must not match the empty "
                             "string (as in Alertmanager): these would silence every alert"})
    for name, limit in (("created_by", None), ("comment", MAX_COMMENT_BYTES)):
        value = getattr(body, name)
        if (why := text_problem(value)) is not None:
            problems.append({"loc": ["body", name], "msg": why})
        elif not value.strip():
            problems.append({"loc": ["body", name], "msg": "is blank; say " + (
                "who silences" if name == "created_by" else "why (Alertmanager requires a comment too)")})
        elif limit is not None and len(value.encode("utf-8")) > limit:
            problems.append({"loc": ["body", name], "msg": f"longer than {limit // 1024} KiB"})
    times: dict[str, datetime | None] = {"starts_at": None, "ends_at": None}
    for name in times:
        if (text := getattr(body, name)) is not None:
            try:
                times[name] = _time(text, ["body", name])
            except RequestProblem as exc:
                problems.extend(exc.problems)
    duration_s = None
    if body.duration is not None:
        if body.ends_at is not None:
            problems.append({"loc": ["body", "duration"], "msg": "give ends_at or duration, not both"})
        else:
            try:
                duration_s = parse_duration(body.duration)
            except ValueError as exc:
                problems.append({"loc": ["body", "duration"], "msg": str(exc)[:200]})
            else:
                if duration_s <= 0:
                    problems.append({"loc": ["body", "duration"], "msg": "must be longer than 0s"})
    elif body.ends_at is None:
        problems.append({"loc": ["body", "ends_at"], "msg": "required: an RFC 3339 end time, or give a duration "
                                                            "like 2h instead"})
    if problems:
        raise RequestProblem(422, problems[:MAX_PROBLEMS])
    return _Draft(tuple(matchers), times["starts_at"], times["ends_at"], duration_s, body.created_by, body.comment)


def _spec(draft: _Draft, now: datetime, current_start: datetime | None = None) -> SilenceSpec:
    """The draft's window against the clock: the start defaults to (and is at least) now, the end is after it.

    Alertmanager moves a start in the past to now; a replaced silence keeps its current start
    when the body leaves it out or repeats it.
    """
    starts_at = draft.starts_at or current_start or now
    if starts_at < now and starts_at != current_start:
        starts_at = now
    loc = ["body", "ends_at" if draft.duration_s is None else "duration"]
    if draft.duration_s is not None:
        try:
            ends_at = starts_at + timedelta(seconds=draft.duration_s)
        except OverflowError:
            raise problem(422, loc, "too long: the silence would end after the year 9999") from None
    else:
        ends_at = draft.ends_at
    if ends_at <= now:
        raise problem(422, loc, f"the silence would end at {ends_at.isoformat()}, in the past; to end a silence "
                                "now, DELETE it")
    if ends_at <= starts_at:
        raise problem(422, loc, f"the end {ends_at.isoformat()} is not after starts_at {starts_at.isoformat()}")
    return SilenceSpec(draft.matchers, starts_at, ends_at, draft.created_by, draft.comment)


# --- query parameters ---

def _states(values: list[str]) -> list[str]:
    for value in values:
        if value.lower() not in STATES:
            raise BadParam("query", "state", f"{value[:40]!r} is not one of {', '.join(STATES)}")
    return sorted({value.lower() for value in values})


def _labels(values: list[str]) -> dict[str, str] | None:
    """`name=value` or `name="value"` (JSON-quoted) → the labels of the alert to check silences against."""
    if not values:
        return None
    labels: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not is_label_name(name) or len(name) > MAX_NAME_CHARS:
            raise BadParam("query", "matches", f"{text[:80]!r} is not name=value with a label name "
                                               f"{LABEL_NAME_SYNTAX}")
        if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                raise BadParam("query", "matches", f"{text[:80]!r}: bad escape in the quoted value") from None
        if name in labels:
            raise BadParam("query", "matches", f"label {name} given twice; an alert has one value per label")
        if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
            raise BadParam("query", "matches", f"value of {name} is longer than {MAX_VALUE_BYTES} bytes")
        labels[name] = value
    return labels


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    created_at, silence_id = cursors.decode(cursor)
    if not re.match(SILENCE_ID, silence_id):
        raise BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    return created_at, silence_id


# --- responses ---

def _out(saved: StoredSilence, now: datetime, response: Response | None = None) -> SilenceOut:
    if response is not None:
        response.headers["ETag"] = f'"{saved.version}"'
    return SilenceOut(id=saved.id, version=saved.version, state=saved.state(now),
                      matchers=[SilenceMatcherOut(**m) for m in saved.matchers], starts_at=saved.starts_at,
                      ends_at=saved.ends_at, created_by=saved.created_by, comment=saved.comment,
                      created_at=saved.created_at, updated_at=saved.updated_at, updated_by=saved.updated_by)


# --- routes ---

@router.get("", response_model=SilencePage)
async def list_silences(
    store: StoreDep,
    state: Annotated[list[str], Query(description="pending, active or expired (now); repeat for several")] = [],
    created_by: Annotated[str | None, Query(max_length=256)] = None,
    matches: Annotated[list[str], Query(
        description='a label of an alert, name=value or name="value"; repeat for each label. Lists the silences '
                    "whose matchers all match an alert with exactly these labels (missing ones read as empty), "
                    "in any state unless `state` says which", examples=['severity="critical"'])] = [],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SilencePage:
    """Silences, newest first (active, pending and expired unless `state` filters)."""
    if len(state) + len(matches) > MAX_FILTERS:
        raise BadParam("query", "matches", f"at most {MAX_FILTERS} filters in one request")
    after = _decode_cursor(cursor) if cursor is not None else None
    rows = await store.list(states=_states(state), created_by=created_by, labels=_labels(matches), after=after,
                            limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    now = store.now()
    return SilencePage(items=[_out(r, now) for r in rows],
                       next_cursor=cursors.encode(rows[-1].created_at, rows[-1].id) if more else None)


@router.post("", status_code=201, response_model=SilenceOut, openapi_extra=_BODY_DOC, responses=_ERRORS)
async def create_silence(request: Request, response: Response, store: StoreDep, pool: DbDep,
                         who: OperatorKey) -> SilenceOut:
    """Create a silence (a new id, version 1); published to the workers before the answer. Operators and admins."""
    draft = await _draft(request)
    saved = await store.create(_spec(draft, store.now()), who.name)
    response.headers["Location"] = f"{router.prefix}/{saved.id}"
    out = _out(saved, store.now(), response)
    await audit.record(pool, who, "silence.create", saved.id, None, out)
    return out


@router.get("/{id}", response_model=SilenceOut, responses={**_MISSING, 422: _ERRORS[422]})
async def get_silence(id: SilenceId, response: Response, store: StoreDep) -> SilenceOut:
    """The latest version of a silence, expired ones too (ETag: its version)."""
    return _out(await store.get(id), store.now(), response)


@router.put("/{id}", response_model=SilenceOut, openapi_extra=_BODY_DOC,
            responses={**_MISSING, **_CHANGED, **_ERRORS})
async def replace_silence(id: SilenceId, request: Request, response: Response, store: StoreDep, pool: DbDep,
                          who: OperatorKey,
                          if_match: Annotated[str | None, Header(description='"<version>" expected')] = None,
                          ) -> SilenceOut:
    """Replace a pending or active silence (version +1); an unchanged one keeps its version and is not republished."""
    expected = expected_version(if_match, "silence")
    draft = await _draft(request)
    current = await store.get(id)
    saved = await store.replace(id, _spec(draft, store.now(), current.starts_at), who.name, expected_version=expected)
    out = _out(saved, store.now(), response)
    if saved.version != current.version:
        await audit.record(pool, who, "silence.update", saved.id, _out(current, store.now()), out)
    return out


@router.delete("/{id}", response_model=SilenceOut, responses={**_MISSING, **_CHANGED, 422: _ERRORS[422],
                                                              503: _ERRORS[503]})
async def expire_silence(id: SilenceId, response: Response, store: StoreDep, pool: DbDep, who: OperatorKey,
                         if_match: Annotated[str | None, Header(description='"<version>" expected')] = None,
                         ) -> SilenceOut:
    """Expire a silence now (Alertmanager's delete): it stops silencing and stays listed as expired."""
    current = await store.get(id)
    expired = await store.expire(id, who.name, expected_version=expected_version(if_match, "silence"))
    out = _out(expired, store.now(), response)
    if expired.version != current.version:
        await audit.record(pool, who, "silence.expire", expired.id, _out(current, store.now()), out)
    return out


@router.get("/{id}/versions", response_model=SilenceHistory, responses={**_MISSING, 422: _ERRORS[422]})
async def silence_versions(id: SilenceId, store: StoreDep) -> SilenceHistory:
    """Every version of a silence, oldest first."""
    versions = await store.history(id)
    return SilenceHistory(id=id.lower(), versions=[
        SilenceVersionOut(version=v.version, change="created" if v.version == 1 else "expired" if v.deleted
                          else "updated", matchers=[SilenceMatcherOut(**m) for m in v.matchers],
                          starts_at=v.starts_at, ends_at=v.ends_at, created_by=v.created_by, comment=v.comment,
                          changed_at=v.changed_at, changed_by=v.changed_by) for v in versions])
