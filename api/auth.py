"""Who is calling: every route but /healthz needs an API key, of a role that may do what the route does.

A key is sent as `Authorization: Bearer <key>`, or as the password of HTTP basic auth (what
Grafana's Prometheus data source sends with "Basic auth"; the user name is ignored). A missing or
unknown key is a 401, a key whose role is too low a 403 naming the role needed, and a key over
its rate a 429 with Retry-After (api/ratelimit.py). Keys are looked up by digest and remembered
for `CACHE_S`, so a revoked key stops working within that time in every API process. While
Postgres does not answer, a key verified within `STALE_S` keeps working; a key never seen gets a
503 (its validity is unknown), never a 401 that would tell a client its key is bad.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from fastapi import HTTPException
from starlette.requests import HTTPConnection
from psycopg_pool import PoolTimeout

from kernel.keys import ApiKey, KeyStore, Role, digest, presented_key
from api.ratelimit import RateLimiter

log = logging.getLogger(__name__)

CACHE_S = 5.0
STALE_S = 600.0  # while Postgres is down, a key verified this recently still works (Grafana keeps reading the TSDB)
CACHE_MAX = 10_000
MAX_KEY_CHARS = 200
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="vigil"'}


@dataclass(frozen=True)
class Principal:
    """The key a request was made with (what the audit log records)."""

    key_id: str
    name: str
    role: Role
    remote: str = ""


class Authenticator:
    """Finds the live key of a request (cached for CACHE_S) and applies its rate limit."""

    def __init__(self, keys: KeyStore, limiter: RateLimiter) -> None:
        self.keys = keys
        self.limiter = limiter
        self._cache: dict[bytes, tuple[float, ApiKey | None]] = {}  # digest → (verified at, key)

    async def key(self, presented: str) -> ApiKey | None:
        """The live key `presented` is, from the cache while it is fresh."""
        found = digest(presented)
        now = time.monotonic()
        cached = self._cache.get(found)
        if cached and now - cached[0] < CACHE_S:
            return cached[1]
        try:
            key = await self.keys.by_key(presented)
        except (psycopg.OperationalError, PoolTimeout):
            if cached and now - cached[0] < STALE_S:
                return cached[1]
            raise  # the error handlers answer 503 naming Postgres
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[found] = (now, key)
        return key

    async def principal(self, request: HTTPConnection, needed: Role) -> Principal:
        """The caller, if its key is live, may act as `needed` and is within its rate; else an HTTPException.

        A request is authenticated and rate-limited once, however many dependencies ask.
        """
        known = getattr(request.state, "principal", None)
        if known is not None:
            self._check_role(known.name, known.role, needed)
            return known
        presented = presented_key(request.headers.get("authorization", ""))
        if presented is None or len(presented) > MAX_KEY_CHARS:
            raise HTTPException(401, "an API key is required: send Authorization: Bearer <key> "
                                     "(or basic auth with the key as password); create one with `vigil keys create`",
                                headers=CHALLENGE)
        key = await self.key(presented)
        if key is None:
            raise HTTPException(401, "the API key is not known or was revoked", headers=CHALLENGE)
        self._check_role(key.name, key.role, needed)
        retry_after = await self.limiter.check(key)
        if retry_after is not None:
            raise HTTPException(429, f"key {key.name!r} is over its rate limit; retry after {retry_after} s",
                                headers={"Retry-After": str(retry_after)})
        client = request.client
        who = Principal(key.id, key.name, key.role, remote=client.host if client else "")
        request.state.principal = who
        return who


    async def still_live(self, who: Principal) -> bool:
        """Whether the key of `who` is still live (not revoked); True when Postgres can't tell (it is down)."""
        try:
            key = await self.keys.get(who.key_id)
        except (psycopg.OperationalError, PoolTimeout):
            return True
        return key is not None and key.revoked_at is None

    @staticmethod
    def _check_role(name: str, role: Role, needed: Role) -> None:
        if not role.allows(needed):
            higher = {Role.VIEWER: " (or operator, admin)", Role.OPERATOR: " (or admin)"}.get(needed, "")
            raise HTTPException(403, f"key {name!r} has role {role.value}; this needs {needed.value}{higher}")


def _requirement(needed: Role):
    async def dependency(request: HTTPConnection) -> Principal:
        return await request.app.state.auth.principal(request, needed)

    dependency.__name__ = f"require_{needed.value}"
    dependency.__doc__ = f"The request's Principal, when its key may act as {needed.value}."
    return dependency


_REQUIREMENTS = {role: _requirement(role) for role in Role}


def require(needed: Role):
    """A FastAPI dependency: the request's Principal, when its key may act as `needed`."""
    return _REQUIREMENTS[needed]
