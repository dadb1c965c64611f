"""Once agent tokens are in use, ingest stays closed: revoking the last one, a restart or a Postgres
outage never opens it; only VIGIL_INGEST_AUTH=open does (issue 15)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from kernel.keys import KeyStore
from ingest import stored_tokens
from infra.stack.parts import Postgres
from tests.harness import create_key, free_port
from tests.own_servers import running
from tests.ingest.test_influx_http import samples_in_kafka

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres(stack):
    """A Postgres of this test's own, that it may stop and start."""
    yield from running(stack, Postgres)


REFRESHED_S = stored_tokens.REFRESH_S + 2  # long enough for ingest to have re-read the stored tokens


def revoke(dsn: str, name: str) -> None:
    """Revoke a token by name, as `vigil keys revoke ID` does."""
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            store = KeyStore(conn)
            (key,) = [k for k in await store.list() if k.name == name]
            await store.revoke(key.id)
    asyncio.run(run())


def write(http, token: str | None = None, value: int = 1):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post("/api/v2/write?precision=ms", content=f"cpu,host=a usage={value} {int(time.time() * 1000)}",
                     headers=headers)


def test_revoking_the_last_token_leaves_ingest_closed_and_a_restart_too(start_ingest, vigil_env):
    token = create_key(vigil_env.dsn, "ingest", "only-agent")
    with start_ingest(max_body_bytes=1024 * 1024) as (http, _):
        assert write(http, token).status_code == 204
        revoke(vigil_env.dsn, "only-agent")
        time.sleep(REFRESHED_S)
        for answer in (write(http), write(http, token)):
            assert answer.status_code == 401, answer.text
        assert write(http).json()["message"].startswith("no token given: send Authorization: Bearer <token>")
        assert "revoked" in write(http, token).json()["message"]
    vigil_env.processes[-1].stop()
    with start_ingest(max_body_bytes=1024 * 1024) as (http, _):  # a process started after the revocation
        assert write(http).status_code == 401 and write(http, token).status_code == 401


def test_open_accepts_writes_without_a_token_while_tokens_exist_and_still_names_the_agent(start_ingest, vigil_env):
    token = create_key(vigil_env.dsn, "ingest", "edge", labels={"dc": "eu"})
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_INGEST_AUTH="open") as (http, env):
        assert write(http, value=1).status_code == 204
        assert write(http, token, value=2).status_code == 204
        samples = sorted(samples_in_kafka(env, 2), key=lambda s: s["value"])
        assert [s["labels"] for s in samples] == [{"host": "a"}, {"host": "a", "dc": "eu"}]
        log = "".join(env.log(p) for p in env.processes)
        assert "VIGIL_INGEST_AUTH=open" in log and token not in log


def test_required_refuses_writes_before_any_token_exists_saying_how_to_make_one(start_ingest):
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_INGEST_AUTH="required") as (http, _):
        answer = write(http)
        assert answer.status_code == 401
        assert "vigil keys create --role ingest" in answer.json()["message"]
        assert http.get("/healthz").status_code == 200 and http.get("/ping").status_code == 204


def test_a_bad_auth_mode_stops_ingest_naming_the_variable(vigil_env):
    proc = vigil_env.start("ingest", extra_env={"VIGIL_INGEST_PORT": str(free_port()), "VIGIL_INGEST_AUTH": "off"})
    assert proc.popen.wait(timeout=30) != 0
    assert "invalid setting VIGIL_INGEST_AUTH: Input should be 'auto', 'required' or 'open'" in vigil_env.log(proc)


def test_a_postgres_outage_during_the_refresh_keeps_the_tokens_in_force(start_ingest, own_postgres):
    token = create_key(own_postgres.address, "ingest", "edge")
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_POSTGRES_DSN=own_postgres.address) as (http, env):
        assert write(http).status_code == 401 and write(http, token).status_code == 204
        own_postgres.stop()
        try:
            time.sleep(REFRESHED_S)
            assert write(http).status_code == 401
            assert write(http, token).status_code == 204  # the last set read stays in force
            log = "".join(env.log(p) for p in env.processes)
            assert "ingest tokens not refreshed, keeping the last set read" in log
        finally:
            own_postgres.start()
