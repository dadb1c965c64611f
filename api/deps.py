"""Dependencies routes declare with `Annotated` aliases: the Postgres pool and the TSDB client."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool


def _pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


def _tsdb(request: Request) -> httpx.AsyncClient:
    return request.app.state.tsdb


DbDep = Annotated[AsyncConnectionPool, Depends(_pool)]
TsdbDep = Annotated[httpx.AsyncClient, Depends(_tsdb)]
