"""One `vigil api` process per module over its own database, seeded with alerts and series."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.harness import VigilEnv, create_key, drop_env, free_port, new_env, wait_http


@dataclass
class RunningApi:
    """A `vigil api` process; `http` carries an admin key, `client(role)` makes a client with a new key of a role."""

    env: VigilEnv
    http: httpx.Client

    def client(self, role: str, **key_options) -> httpx.Client:
        key = create_key(self.env.dsn, role, **key_options)
        return httpx.Client(base_url=self.http.base_url, timeout=20, headers={"Authorization": f"Bearer {key}"})


def start_api(stack, ready_path: str = "/healthz", **env_overrides: str) -> RunningApi:
    """A fresh env and a real `vigil api` subprocess on a free port, serving `ready_path` with a 2xx."""
    env = new_env(stack)
    port = free_port()
    proc = env.start("api", extra_env={"VIGIL_API_PORT": str(port), **env_overrides})
    wait_http(f"http://127.0.0.1:{port}{ready_path}", proc)
    key = create_key(env.dsn, "admin", "tests-admin")
    return RunningApi(env, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20,
                                        headers={"Authorization": f"Bearer {key}"}))


@pytest.fixture(scope="module")
def api(stack):
    running = start_api(stack)
    yield running
    running.http.close()
    drop_env(running.env)
