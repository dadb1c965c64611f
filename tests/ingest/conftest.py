"""A running `vigil ingest` per test, with the body limit and environment a test module wants."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from tests.harness import free_port


@pytest.fixture
def start_ingest(vigil_env):
    """Starts `vigil ingest` on a free port; yields a factory of (http client, env) context managers."""

    @contextmanager
    def start(max_body_bytes: int, **env: str):
        port = free_port()
        vigil_env.start("ingest", health_port=port, extra_env={
            "VIGIL_INGEST_PORT": str(port), "VIGIL_MAX_BODY_BYTES": str(max_body_bytes), **env})
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            yield http, vigil_env
    return start
