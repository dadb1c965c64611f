"""`/api/v1/devices`: the device registry (labels ingest adds to a device's samples); admins change it.

A change takes effect at ingest within seconds: after it committed, the device's entry in the
Redis cache ingest reads through (ingest/enrich.py) is deleted, so the next lookup reads Postgres.
Ingest processes also keep each entry in memory for a few seconds (DeviceRegistry's local TTL).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime
from typing import Annotated, Literal, get_args
from urllib.parse import quote

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from pydantic import ValidationError

from api import audit, label_filters
from api.device_store import DeviceStore, StoredDevice
from api.deps import AdminKey, DbDep
from api.errors import BadParam
from api.models.devices import DeviceIn, DeviceOut, DevicePage
from api.request_body import RequestProblem, check_values, json_object, problem
from kernel.settings import ApiSettings
from kernel.device_cache import CACHE_KEY_PREFIX

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

MAX_DEVICE_ID_CHARS = 256
MAX_BODY_BYTES = 256 * 1024  # 64 labels of 1 KiB values fit with room for JSON escapes
MAX_FILTERS = 20
MAX_CURSOR_CHARS = 800
MAX_PROBLEMS = 20
DEVICE_ID = r"^[^\x00-\x1f\x7f]+$"  # no control characters: ids come from label values, printable in practice
Sort = Literal["device_id", "-device_id", "updated_at", "-updated_at"]
_SORTS = get_args(Sort)
_MISSING = {404: {"description": "no device with this id"}}
_ERRORS = {422: {"description": "a bad parameter or body; `errors[].loc` names it"}}
_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": DeviceIn.model_json_schema(), "examples": {"labels": {"summary": "a pump's site and vendor", "value": {
        "labels": {"site": "plant-2", "vendor": "acme"}}}}}}}}

DeviceId = Annotated[str, Path(min_length=1, max_length=MAX_DEVICE_ID_CHARS, pattern=DEVICE_ID,
                               description="the value of a sample's `device` or `host` label", examples=["pump-7"])]


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Name the Redis keys of ingest's device cache for this deployment (its topic prefix)."""
    app.state.device_cache_prefix = CACHE_KEY_PREFIX.format(prefix=settings.topic_prefix)


def _store(request: Request) -> DeviceStore:
    return DeviceStore(request.app.state.pool)


StoreDep = Annotated[DeviceStore, Depends(_store)]


def _out(device: StoredDevice) -> DeviceOut:
    return DeviceOut(device_id=device.device_id, labels=device.labels, updated_at=device.updated_at)


def _audited(device: StoredDevice | None) -> dict | None:
    return None if device is None else _out(device).model_dump(mode="json")


async def _forget_cached(request: Request, device_id: str) -> None:
    """Delete ingest's cached labels of the device; the change is saved already, so a failure is only logged."""
    try:
        await request.app.state.redis.delete(request.app.state.device_cache_prefix + device_id)
    except aioredis.RedisError as exc:
        log.warning("device %r changed but its ingest cache entry was not deleted (ingest sees the change when "
                    "the entry expires, VIGIL_DEVICE_CACHE_TTL_S): %s", device_id[:80], exc)


# --- list parameters ---

def _encode_cursor(sort: str, device: StoredDevice) -> str:
    key = [device.device_id] if sort.endswith("device_id") else [device.updated_at.isoformat(), device.device_id]
    raw = json.dumps([sort, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple:
    """The sort key inside a cursor issued for this `sort`; BadParam naming `cursor` otherwise."""
    refused = BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise refused
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(decoded, list) or not decoded or decoded[0] not in _SORTS:
        raise refused
    issued_for, *key = decoded
    if issued_for != sort:
        raise BadParam("query", "cursor", f"issued for sort={issued_for}; repeat that sort with this cursor")
    if not all(isinstance(part, str) for part in key) or len(key) != (1 if sort.endswith("device_id") else 2):
        raise refused
    if len(key) == 1:
        return (key[0],)
    try:
        stamp = datetime.fromisoformat(key[0])
    except ValueError:
        raise refused from None
    if stamp.tzinfo is None:
        raise refused
    return stamp, key[1]


# --- request body ---

async def _device_from(request: Request) -> DeviceIn:
    """The labels in the body, validated strictly; RequestProblem (413/415/422) naming the field if not."""
    document = await json_object(request, MAX_BODY_BYTES, "device")
    check_values(document)
    try:
        return DeviceIn.model_validate(document, strict=True)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:MAX_PROBLEMS]:
            loc = ["body", *(str(part)[:80] for part in err["loc"] if part != "[key]")]
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field; a device takes labels"
            problems.append({"loc": loc, "msg": msg})
        raise RequestProblem(422, problems) from None


# --- routes ---

@router.get("", response_model=DevicePage, responses=_ERRORS)
async def list_devices(
    store: StoreDep,
    label: Annotated[list[str], Query(description="name=value; every one must match", examples=["site=plant-2"])
                     ] = [],
    device_id: Annotated[str | None, Query(max_length=MAX_DEVICE_ID_CHARS, description="ids starting with this")
                         ] = None,
    sort: Annotated[Sort, Query(description="device_id (default), updated_at; prefix - for descending")
                    ] = "device_id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page (same sort)")] = None,
) -> DevicePage:
    """Registered devices, filtered, in the requested order, one page at a time."""
    if len(label) > MAX_FILTERS:
        raise BadParam("query", "label", f"at most {MAX_FILTERS} label filters in one request")
    after = _decode_cursor(cursor, sort) if cursor is not None else None
    devices = await store.list(id_prefix=device_id, labels=label_filters.parse(label), sort=sort.lstrip("-"),
                               descending=sort.startswith("-"), after=after, limit=limit + 1)
    more = len(devices) > limit
    devices = devices[:limit]
    return DevicePage(items=[_out(d) for d in devices],
                      next_cursor=_encode_cursor(sort, devices[-1]) if more else None)


@router.get("/{device_id:path}", response_model=DeviceOut, responses={**_MISSING, **_ERRORS})
async def get_device(device_id: DeviceId, store: StoreDep) -> DeviceOut:
    """One registered device."""
    device = await store.get(device_id)
    if device is None:
        raise problem(404, ["path", "device_id"], f"no device {device_id!r} is registered")
    return _out(device)


@router.put("/{device_id:path}", response_model=DeviceOut, openapi_extra=_BODY_DOC,
            responses={201: {"description": "registered", "model": DeviceOut}, 413: {"description": "body too large"},
                       **_ERRORS})
async def put_device(device_id: DeviceId, request: Request, response: Response, store: StoreDep, pool: DbDep,
                     who: AdminKey) -> DeviceOut:
    """Register a device or replace all its labels (201 when new); ingest uses them within seconds. Admins only."""
    body = await _device_from(request)
    before, after = await store.put(device_id, body.labels)
    if before is None:
        response.status_code = 201
        response.headers["Location"] = f"{router.prefix}/{quote(device_id, safe='/')}"
    if after is not before:  # unchanged labels: nothing was written
        await _forget_cached(request, device_id)
        await audit.record(pool, who, "device.update", device_id, _audited(before), _audited(after))
    return _out(after)


@router.delete("/{device_id:path}", response_model=DeviceOut, responses={**_MISSING, **_ERRORS})
async def delete_device(device_id: DeviceId, request: Request, store: StoreDep, pool: DbDep,
                        who: AdminKey) -> DeviceOut:
    """Remove a device from the registry (its samples lose its labels within seconds); answers what it was.
    Admins only."""
    before = await store.delete(device_id)
    if before is None:
        raise problem(404, ["path", "device_id"], f"no device {device_id!r} is registered")
    await _forget_cached(request, device_id)
    await audit.record(pool, who, "device.delete", device_id, _audited(before), None)
    return _out(before)
