"""The test session's own embedded stack and Vigil processes, on free ports (never the dev stack's).

The stack and the processes come from `infra/sandbox.py`, which the benchmarks share; what only tests
need (API keys and clients) is here.
"""

from __future__ import annotations

import asyncio
import secrets

import httpx
import psycopg

from kernel.migrate import migrate
from infra.sandbox import (REPO, VigilEnv, closed_port, drop_env, free_port, new_env, start_stack,
                           sweep_abandoned_stacks, wait_http, wait_until)

start_test_stack = start_stack

__all__ = ["REPO", "VigilEnv", "api_client", "closed_port", "create_key", "drop_env", "free_port", "new_env",
           "start_test_stack", "sweep_abandoned_stacks", "wait_http", "wait_until"]


def create_key(dsn: str, role: str, name: str | None = None, **kwargs) -> str:
    """A new API key (or ingest token, role "ingest") in the env's database, made as `vigil keys create` does."""
    from kernel.keys import KeyStore, Role

    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            _, key = await KeyStore(conn).create(name or f"{role}-{secrets.token_hex(3)}", Role(role), "tests",
                                                 **kwargs)
            return key

    migrate(dsn)
    return asyncio.run(make())


def api_client(vigil_env: VigilEnv, port: int, role: str = "admin", timeout: float = 20) -> httpx.Client:
    """An HTTP client of the env's `vigil api` on `port`, carrying a new key of `role`."""
    key = create_key(vigil_env.dsn, role)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout,
                        headers={"Authorization": f"Bearer {key}"})
