"""With Postgres and the time-series store unreachable the API still serves: 503 naming the store, never 401 or 500."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from api.auth import CACHE_S
from tests.api.conftest import start_api
from tests.harness import closed_port, drop_env

pytestmark = pytest.mark.integration


class CuttableProxy:
    """A TCP forwarder to a real server that the test can cut (every connection dropped, new ones refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.cut_off = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.cut_off = True
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def cut_off(stack):
    """A `vigil api` whose stores are on ports nobody listens on (its key was never verified)."""
    running = start_api(stack, ready_path="/openapi.json", VIGIL_TSDB_URL=f"http://127.0.0.1:{closed_port()}",
                        VIGIL_POSTGRES_DSN=f"postgresql://postgres@127.0.0.1:{closed_port()}/nothing",
                        VIGIL_API_DB_TIMEOUT_S="1")
    yield running
    running.http.close()
    drop_env(running.env)


def test_routes_answer_503_with_retry_after_naming_the_store(cut_off):
    # The time-series store alone down (keys still readable): tests/api/test_prometheus_api.py::test_store_down_*
    for route in ("/api/v1/alerts", "/api/v1/query?query=up", "/api/v1/alerts?limit=x"):
        answer = cut_off.http.get(route)  # the key can't be checked: 503, not a 401 that says the key is bad
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", (route, answer.text)
        assert answer.json()["detail"].startswith("postgres unavailable")
    health = cut_off.http.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert "ConnectError" in health.json()["tsdb"] and health.json()["postgres"] != "ok"


def test_a_key_verified_before_postgres_went_down_keeps_reading_metrics(stack):
    proxy = CuttableProxy(stack.postgres_port)
    first = start_api(stack)  # only to make the env and its database; the API under test goes through the proxy
    env, key_header = first.env, first.http.headers["Authorization"]
    first.env.stop_all()
    running = start_api(stack, VIGIL_POSTGRES_DSN=env.dsn.replace(f":{stack.postgres_port}/", f":{proxy.port}/"),
                        VIGIL_API_DB_TIMEOUT_S="1")
    running.http.headers["Authorization"] = key_header
    try:
        assert running.http.get("/api/v1/query", params={"query": "1+1"}).status_code == 200
        proxy.cut()
        time.sleep(CACHE_S + 0.5)  # past the fresh cache: the key is looked up again and Postgres doesn't answer
        metrics = running.http.get("/api/v1/query", params={"query": "1+1"})
        assert metrics.status_code == 200, metrics.text  # Grafana keeps working off the time-series store
        assert running.http.get("/api/v1/alerts", params={"limit": "x"}).status_code == 422
        alerts = running.http.get("/api/v1/alerts")
        assert alerts.status_code == 503 and alerts.json()["detail"].startswith("postgres unavailable")
    finally:
        proxy.close()
        running.http.close()
        first.http.close()
        drop_env(running.env)
        drop_env(env)


def test_with_redis_unreachable_requests_pass_unlimited_and_are_counted(stack):
    running = start_api(stack, ready_path="/openapi.json", VIGIL_REDIS_URL=f"redis://127.0.0.1:{closed_port()}")
    try:
        limited = running.client("viewer", rate_per_s=0.2, burst=1)
        answers = [limited.get("/api/v1/alerts").status_code for _ in range(3)]
        assert answers == [200, 200, 200], answers  # over its rate, but an API refusing everyone protects nothing
        metrics = running.http.get("/metrics/").text
        unchecked = next(float(line.split()[-1]) for line in metrics.splitlines()
                         if line.startswith("vigil_api_rate_limit_unchecked_total "))
        assert unchecked >= 3, metrics
    finally:
        running.http.close()
        drop_env(running.env)
