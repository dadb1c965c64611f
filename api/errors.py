"""How the API reports bad input and unavailable stores: one JSON shape, never a 500 for a client's mistake.

Every error body is `{"detail": "<one line naming the parameter and the reason>", "errors": [...]}`;
`errors` lists each problem as `{"loc": [...], "msg": ...}` like FastAPI's own validation errors.
"""

from __future__ import annotations

import logging

import httpx
import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5


class BadParam(Exception):
    """A request parameter that parsed but makes no sense (bad cursor, matcher, time range, …)."""

    def __init__(self, where: str, name: str, msg: str) -> None:
        super().__init__(f"{name}: {msg}")
        self.loc = [where, name]
        self.msg = msg


class StoreUnavailable(Exception):
    """A store the API reads from (Postgres, the time-series store) did not answer."""

    def __init__(self, store: str, reason: str) -> None:
        super().__init__(f"{store} unavailable: {reason}")
        self.store = store


def _body(errors: list[dict]) -> dict:
    detail = "; ".join(f"{err['loc'][-1]}: {err['msg']}" if len(err["loc"]) > 1 else err["msg"] for err in errors)
    return {"detail": detail, "errors": errors}


def install(app: FastAPI) -> None:
    """Register the handlers that turn exceptions into the error shape above."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(part) for part in err["loc"]], "msg": err["msg"]} for err in exc.errors()]
        return JSONResponse(jsonable_encoder(_body(errors)), status_code=422)

    @app.exception_handler(BadParam)
    async def bad_param(request: Request, exc: BadParam) -> JSONResponse:
        return JSONResponse(_body([{"loc": exc.loc, "msg": exc.msg}]), status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("%s", exc)
        return JSONResponse(_body([{"loc": [exc.store], "msg": str(exc)}]), status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(psycopg.OperationalError)
    async def postgres_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return await unavailable(request, StoreUnavailable("postgres", type(exc).__name__))

    @app.exception_handler(PoolTimeout)
    async def postgres_busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        return await unavailable(request, StoreUnavailable("postgres", "no connection available in time"))

    @app.exception_handler(httpx.TransportError)
    async def tsdb_down(request: Request, exc: httpx.TransportError) -> JSONResponse:
        return await unavailable(request, StoreUnavailable("tsdb", type(exc).__name__))
