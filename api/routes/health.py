"""`GET /healthz`: 200 while Postgres and the time-series store answer, else 503 naming which failed."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import DbDep, TsdbDep
from api.models.health import Health

router = APIRouter(tags=["health"])
PROBE_TIMEOUT_S = 2.0


async def _probe(check) -> str:
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
    except Exception as exc:  # any failure is "unhealthy"; the message says which kind
        return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
    return "ok"


@router.get("/healthz", response_model=Health, summary="Health of the API and the stores it reads (no key needed)",
            responses={503: {"model": Health, "description": "a store did not answer; its field says how it failed"}})
async def healthz(request: Request, pool: DbDep, tsdb: TsdbDep) -> JSONResponse:
    """Probe both stores the API reads from; say what the broker watch last saw of Kafka (writes need it)."""

    async def postgres() -> None:
        async with pool.connection(timeout=PROBE_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")

    async def victoria() -> None:
        (await tsdb.get("/health")).raise_for_status()

    pg, ts = await asyncio.gather(_probe(postgres), _probe(victoria))
    kafka = request.app.state.broker.status.describe()
    ok = pg == ts == kafka == "ok"
    return JSONResponse(Health(status="ok" if ok else "unhealthy", postgres=pg, tsdb=ts, kafka=kafka).model_dump(),
                        status_code=200 if ok else 503)
