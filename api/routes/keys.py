"""`/api/v1/keys`: admins create, list and revoke API keys and agent ingest tokens (the same as `vigil keys`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from api import audit
from api.deps import AdminKey, DbDep
from api.errors import BadParam
from kernel.keys import ApiKey, KeyChangeError, KeyStore, Role
from api.models.keys import KeyCreated, KeyIn, KeyOut, KeyPage, KeyRole

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])

KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,64}$", examples=["3f9a0c12be47"])]
_CONFLICT = {409: {"description": "a live key already has this name"}}
_MISSING = {404: {"description": "no live key with this id"}}


def _store(request: Request) -> KeyStore:
    return request.app.state.keys


def _out(key: ApiKey) -> KeyOut:
    return KeyOut(**key.public())


@router.get("", response_model=KeyPage)
async def list_keys(request: Request, who: AdminKey,
                    role: Annotated[list[KeyRole], Query(description="only these roles; repeatable")] = [],
                    include_revoked: bool = False) -> KeyPage:
    """Every key (never a secret), oldest first. Admins only."""
    keys = await _store(request).list(roles=[Role(r) for r in role], include_revoked=include_revoked)
    return KeyPage(items=[_out(key) for key in keys])


@router.post("", status_code=201, response_model=KeyCreated, responses=_CONFLICT)
async def create_key(request: Request, response: Response, body: KeyIn, pool: DbDep, who: AdminKey) -> KeyCreated:
    """Create a key and answer it once: only its SHA-256 is stored. Admins only."""
    if body.labels and body.role != Role.INGEST.value:
        raise BadParam("body", "labels", "labels apply to ingest tokens only (role ingest)")
    try:
        key, secret = await _store(request).create(body.name, Role(body.role), f"key:{who.name}", body.labels,
                                                   body.rate_per_s, body.burst)
    except KeyChangeError as exc:
        raise HTTPException(409, str(exc)) from None
    response.headers["Location"] = f"{router.prefix}/{key.id}"
    await audit.record(pool, who, "key.create", key.id, None, key.public())
    return KeyCreated(**key.public(), key=secret)


@router.get("/{id}", response_model=KeyOut, responses=_MISSING)
async def get_key(request: Request, id: KeyId, who: AdminKey) -> KeyOut:
    """One key, live or revoked. Admins only."""
    key = await _store(request).get(id)
    if key is None:
        raise HTTPException(404, f"no key with id {id}")
    return _out(key)


@router.delete("/{id}", response_model=KeyOut, responses=_MISSING)
async def revoke_key(request: Request, id: KeyId, pool: DbDep, who: AdminKey) -> KeyOut:
    """Revoke a key: every API process refuses it within seconds, ingest within its token refresh. Admins only."""
    try:
        before, after = await _store(request).revoke(id)
    except KeyChangeError as exc:
        raise HTTPException(404, str(exc)) from None
    await audit.record(pool, who, "key.revoke", id, before.public(), after.public())
    return _out(after)
