"""`/api/v1/rules`: create, read, replace, delete and validate alert rules (stored in Postgres, published to Kafka)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, get_args

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api import audit
from api.deps import AdminKey, DbDep
from api.errors import RETRY_AFTER_S, BadParam
from api.models.rules import (RULE_EXAMPLES, RuleHistory, RulePage, RuleVersionOut, StoredRuleOut, ValidatedRule,
                              rule_spec_schema)
from api.request_body import RequestProblem, answer, check_values, expected_version, json_object, problem
from api.rule_store import Conflict, NotFound, RuleStore, RuleStoreError, StoredRule, VersionConflict
from api.versioned_store import Unavailable
from kernel.rules import Evaluator, Rule, RuleType

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])

MAX_BODY_BYTES = 64 * 1024
MAX_PROBLEMS = 20
MAX_MSG_CHARS = 500
MAX_CURSOR_CHARS = 200
RULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
FIELDS = tuple(f.alias or name for name, f in Rule.model_fields.items() if name != "version")
_NAMED_FIELD = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?: (.*)$", re.DOTALL)
_TEMPLATE_OF = re.compile(r"^template of '(.+?)': (.*)$", re.DOTALL)
_STATUS = {NotFound: 404, VersionConflict: 412, Conflict: 409}

_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": rule_spec_schema(), "examples": RULE_EXAMPLES}}}}
_ERRORS = {413: {"description": "body over 64 KB"},
           422: {"description": "the rule is invalid; `errors[].loc` names the field, e.g. body.window"},
           503: {"description": "Kafka or Postgres did not answer: nothing was saved, retry"}}
_MISSING = {404: {"description": "no live rule with this id"}}
_STALE = {412: {"description": "If-Match names another version than the current one"}}


def install(app: FastAPI) -> None:
    """Map the store's errors and bad rule bodies onto 404/409/412/413/422/503 in the API's error shape."""

    @app.exception_handler(RequestProblem)
    async def bad_body(request: Request, exc: RequestProblem) -> JSONResponse:
        return answer(exc.status, exc.problems)

    @app.exception_handler(RuleStoreError)
    async def refused(request: Request, exc: RuleStoreError) -> JSONResponse:
        status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
        loc = {404: ["path", "id"], 409: ["body", "id"], 412: ["header", "If-Match"]}[status]
        return answer(status, [{"loc": loc, "msg": str(exc)}])

    @app.exception_handler(Unavailable)
    async def unavailable(request: Request, exc: Unavailable) -> JSONResponse:
        return answer(503, [{"loc": ["kafka"], "msg": f"kafka unavailable, nothing was saved: {exc}"}],
                      headers={"Retry-After": str(RETRY_AFTER_S)})


def _store(request: Request) -> RuleStore:
    return request.app.state.rule_store


StoreDep = Annotated[RuleStore, Depends(_store)]
RuleId = Annotated[str, Path(pattern=RULE_ID, description="letters, digits, `.`, `_`, `-`; at most 128")]


# --- request bodies ---

def _problems(exc: ValidationError) -> list[dict]:
    """Pydantic's errors with `loc` at the field: the rule's own validators name it in their message."""
    problems = []
    for err in exc.errors()[:MAX_PROBLEMS]:
        loc = ["body", *(str(part) for part in err["loc"])]
        msg = err["msg"].removeprefix("Value error, ")
        named = _NAMED_FIELD.match(msg)
        if named and named.group(1) in FIELDS and (len(loc) == 1 or loc[-1] == named.group(1)):
            loc = ["body", named.group(1), *([named.group(2)] if named.group(2) else [])]
            msg = named.group(3)
        template = _TEMPLATE_OF.match(msg)
        if template and len(loc) == 2:
            loc.append(template.group(1)[:80])
            msg = template.group(2)
        if err["type"] == "extra_forbidden":
            msg = f"unknown field; a rule takes {', '.join(FIELDS)}"
        problems.append({"loc": loc, "msg": msg[:MAX_MSG_CHARS]})
    return problems


async def _rule_from(request: Request, path_id: str | None = None) -> Rule:
    """The rule in the request body, validated strictly (JSON types as documented); RequestProblem if not."""
    document = await json_object(request, MAX_BODY_BYTES, "rule")
    check_values(document)
    if "version" in document:
        raise problem(422, ["body", "version"], "set by the rule store, not by the author "
                                                "(to guard against concurrent changes, send If-Match: \"<version>\")")
    if path_id is not None:
        if document.setdefault("id", path_id) != path_id:
            raise problem(422, ["body", "id"], f"must equal the id in the path ({path_id}) or be left out")
    try:
        return Rule.model_validate_json(json.dumps(document), strict=True)
    except ValidationError as exc:
        raise RequestProblem(422, _problems(exc)) from None


# --- responses ---

def _out(saved: StoredRule, response: Response | None = None) -> StoredRuleOut:
    if response is not None:
        response.headers["ETag"] = f'"{saved.version}"'
    return StoredRuleOut(id=saved.id, version=saved.version, deleted=saved.deleted,
                         evaluator=saved.spec.get("evaluator", "stream"), created_at=saved.created_at,
                         updated_at=saved.updated_at, updated_by=saved.updated_by, rule=saved.spec)


def _encode_cursor(rule_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([rule_id]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    bad = BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        (rule_id,) = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError):
        raise bad from None
    if not isinstance(rule_id, str) or not re.match(RULE_ID, rule_id):
        raise bad
    return rule_id


# --- routes ---

@router.get("", response_model=RulePage)
async def list_rules(
    store: StoreDep,
    type: Annotated[RuleType | None, Query(description=f"one of {', '.join(get_args(RuleType))}")] = None,
    metric: Annotated[str | None, Query(max_length=256)] = None,
    alertname: Annotated[str | None, Query(max_length=256)] = None,
    evaluator: Annotated[Evaluator | None, Query(description="stream or query")] = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> RulePage:
    """Rules ordered by id (live ones unless include_deleted)."""
    after = _decode_cursor(cursor) if cursor is not None else None
    rows = await store.list(type=type, metric=metric, alertname=alertname, evaluator=evaluator,
                            include_deleted=include_deleted, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RulePage(items=[_out(r) for r in rows], next_cursor=_encode_cursor(rows[-1].id) if more else None)


@router.post("", status_code=201, response_model=StoredRuleOut, openapi_extra=_BODY_DOC,
             responses={409: {"description": "a live rule has this id"}, **_ERRORS})
async def create_rule(request: Request, response: Response, store: StoreDep, pool: DbDep, who: AdminKey) -> StoredRuleOut:
    """Create a rule (version 1; a deleted id continues its versions); published before the answer. Admins only."""
    saved = await store.create(await _rule_from(request), who.name)
    response.headers["Location"] = f"{router.prefix}/{saved.id}"
    out = _out(saved, response)
    await audit.record(pool, who, "rule.create", saved.id, None, out)
    return out


@router.post("/validate", response_model=ValidatedRule, openapi_extra=_BODY_DOC, responses=_ERRORS)
async def validate_rule(request: Request) -> ValidatedRule:
    """Check a rule and answer it normalised; nothing is saved."""
    return ValidatedRule(rule=(await _rule_from(request)).spec())


@router.get("/{id}", response_model=StoredRuleOut, responses={**_MISSING, 422: _ERRORS[422]})
async def get_rule(id: RuleId, response: Response, store: StoreDep) -> StoredRuleOut:
    """The latest version of a live rule (ETag: its version)."""
    saved = await store.get(id)
    if saved.deleted:
        raise NotFound(id, f"rule {id} was deleted at version {saved.version}; "
                           f"its versions: {router.prefix}/{id}/versions")
    return _out(saved, response)


@router.put("/{id}", response_model=StoredRuleOut, openapi_extra=_BODY_DOC,
            responses={**_MISSING, **_STALE, **_ERRORS})
async def replace_rule(id: RuleId, request: Request, response: Response, store: StoreDep, pool: DbDep, who: AdminKey,
                       if_match: Annotated[str | None, Header(description='"<version>" expected')] = None,
                       ) -> StoredRuleOut:
    """Replace a live rule (version +1); an unchanged rule keeps its version and is not republished. Admins only."""
    expected = expected_version(if_match, "rule")
    rule = await _rule_from(request, path_id=id)
    before = _out(await store.get(id))
    saved = await store.replace(id, rule, who.name, expected_version=expected)
    out = _out(saved, response)
    if saved.version != before.version:
        await audit.record(pool, who, "rule.update", id, before, out)
    return out


@router.delete("/{id}", response_model=StoredRuleOut, responses={**_MISSING, **_STALE, **_ERRORS})
async def delete_rule(id: RuleId, response: Response, store: StoreDep, pool: DbDep, who: AdminKey,
                      if_match: Annotated[str | None, Header(description='"<version>" expected')] = None,
                      ) -> StoredRuleOut:
    """Delete a rule: a new version with deleted=true (its definition kept), published to the workers. Admins only."""
    before = _out(await store.get(id))
    out = _out(await store.delete(id, who.name, expected_version=expected_version(if_match, "rule")), response)
    await audit.record(pool, who, "rule.delete", id, before, out)
    return out


@router.get("/{id}/versions", response_model=RuleHistory, responses={**_MISSING, 422: _ERRORS[422]})
async def rule_versions(id: RuleId, store: StoreDep) -> RuleHistory:
    """Every version of a rule, oldest first, deleted ones included."""
    versions = await store.history(id)
    return RuleHistory(id=id, versions=[
        RuleVersionOut(id=v.id, version=v.version, deleted=v.deleted, evaluator=v.spec.get("evaluator", "stream"),
                       changed_at=v.changed_at,
                       changed_by=v.changed_by, rule=v.spec) for v in versions])
