"""With Postgres and the time-series store unreachable the API still serves: 503 naming the store."""

from __future__ import annotations

import pytest

from tests.api.conftest import start_api
from tests.harness import drop_env, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def cut_off(stack):
    """A `vigil api` whose stores are on ports nobody listens on."""
    running = start_api(stack, ready_path="/openapi.json", VIGIL_TSDB_URL=f"http://127.0.0.1:{free_port()}",
                        VIGIL_POSTGRES_DSN=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing",
                        VIGIL_API_DB_TIMEOUT_S="1")
    yield running
    running.http.close()
    drop_env(running.env)


def test_routes_answer_503_with_retry_after_naming_the_store(cut_off):
    ranged = cut_off.http.get("/api/v1/query_range", params={"metric": "up"})
    assert ranged.status_code == 503 and ranged.headers["Retry-After"] == "5"
    assert ranged.json()["detail"].startswith("tsdb unavailable: ConnectError")
    alerts = cut_off.http.get("/api/v1/alerts")
    assert alerts.status_code == 503 and alerts.headers["Retry-After"] == "5"
    assert alerts.json()["detail"].startswith("postgres unavailable")
    health = cut_off.http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert "ConnectError" in health.json()["tsdb"] and health.json()["postgres"] != "ok"


def test_bad_input_is_still_422_not_503(cut_off):
    assert cut_off.http.get("/api/v1/alerts", params={"limit": "x"}).status_code == 422
    assert cut_off.http.get("/api/v1/query_range", params={"metric": "up{}"}).status_code == 422
