"""Dependencies routes declare with `Annotated` aliases: the Postgres pool, the TSDB client, the caller's key."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal, require
from kernel.keys import Role


def _pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


def _tsdb(request: Request) -> httpx.AsyncClient:
    return request.app.state.tsdb


DbDep = Annotated[AsyncConnectionPool, Depends(_pool)]
TsdbDep = Annotated[httpx.AsyncClient, Depends(_tsdb)]
ViewerKey = Annotated[Principal, Depends(require(Role.VIEWER))]
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminKey = Annotated[Principal, Depends(require(Role.ADMIN))]
