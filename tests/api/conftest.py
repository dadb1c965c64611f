"""One `vigil api` process per module over its own database, seeded with alerts and series."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.harness import VigilEnv, drop_env, free_port, new_env, wait_http


@dataclass
class RunningApi:
    env: VigilEnv
    http: httpx.Client


def start_api(stack, ready_path: str = "/healthz", **env_overrides: str) -> RunningApi:
    """A fresh env and a real `vigil api` subprocess on a free port, serving `ready_path` with a 2xx."""
    env = new_env(stack)
    port = free_port()
    proc = env.start("api", extra_env={"VIGIL_API_PORT": str(port), **env_overrides})
    wait_http(f"http://127.0.0.1:{port}{ready_path}", proc)
    return RunningApi(env, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20))


@pytest.fixture(scope="module")
def api(stack):
    running = start_api(stack)
    yield running
    running.http.close()
    drop_env(running.env)
