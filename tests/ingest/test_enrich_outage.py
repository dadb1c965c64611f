"""The device registry down (Postgres, or a Redis that does not answer): writes go on, enriched from what
was read before or not at all, and enrichment resumes by itself (issue 15)."""

from __future__ import annotations

import re
import socket
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from kernel.migrate import migrate
from infra.stack.parts import Postgres
from schemas import codec
from tests.harness import wait_until
from tests.own_servers import running
from tests.ingest.test_influx_http import samples_in_kafka
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres(stack):
    """A Postgres of this test's own, that it may stop and start."""
    yield from running(stack, Postgres)


DEVICES = {"web-1": {"team": "payments"}, "web-2": {"team": "search"}, "pump-3": {"site": "plant-1"}}
LOCAL_TTL_S = 5  # DeviceRegistry's in-process cache


def register(dsn: str) -> None:
    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for device_id, labels in DEVICES.items():
            conn.execute("INSERT INTO devices (device_id, labels) VALUES (%s, %s)", (device_id, Jsonb(labels)))


def write(http, line: str) -> int:
    return http.post("/api/v2/write?precision=ms", content=f"{line} {int(time.time() * 1000)}").status_code


def metric(http, name: str) -> float:
    """The sum of a counter's samples in ingest's /metrics."""
    text = http.get("/metrics/").text
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def test_a_postgres_outage_writes_new_hosts_unenriched_at_once_and_known_hosts_keep_their_labels(
        start_ingest, own_postgres):
    register(own_postgres.address)
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_POSTGRES_DSN=own_postgres.address,
                      VIGIL_DEVICE_CACHE_TTL_S="1") as (http, env):
        assert write(http, "cpu,host=web-1 usage=1") == 204  # web-1 is read while the registry is up
        own_postgres.stop()
        try:
            time.sleep(LOCAL_TTL_S + 1)  # web-1's entries in memory and in Redis are past their TTL
            started = time.monotonic()
            assert write(http, "cpu,host=web-1 usage=2") == 204
            assert write(http, "cpu,host=web-2 usage=3") == 204  # never read: a new host
            assert write(http, "flow,device=pump-3 rate=4") == 204  # a new device
            assert time.monotonic() - started < 5, "writes waited for the registry"
            by_value = {s["value"]: s["labels"] for s in samples_in_kafka(env, 4)}
            assert by_value[2] == {"host": "web-1", "team": "payments"}  # the last labels read
            assert by_value[3] == {"host": "web-2"} and by_value[4] == {"device": "pump-3"}  # unenriched
            assert metric(http, "vigil_ingest_enrichment_skipped_total") == 2
            assert metric(http, "vigil_ingest_enrichment_stale_total") == 1
            assert http.get("/healthz").status_code == 200
        finally:
            own_postgres.start()

        reader = TopicReader(env.settings, env.settings.topics.metrics, codec.series_batch())
        values = iter(range(100, 1000))

        def web2_enriched() -> bool:
            value = next(values)
            assert write(http, f"cpu,host=web-2 usage={value}") == 204
            batches = reader.wait_for(lambda r: any(s["value"] == value for b in r for s in b["samples"]))
            (labels,) = [s["labels"] for b in batches for s in b["samples"] if s["value"] == value]
            return labels == {"host": "web-2", "team": "search"}

        wait_until(web2_enriched, timeout=30, interval=1, message="a new host enriched after Postgres returned")
        reader.close()


def test_a_redis_that_does_not_answer_delays_no_write(start_ingest, vigil_env):
    register(vigil_env.dsn)
    with socket.socket() as hung:  # takes connections (the kernel's backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(100)
        redis_url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        with start_ingest(max_body_bytes=1024 * 1024, VIGIL_REDIS_URL=redis_url) as (http, env):
            started = time.monotonic()
            assert write(http, "flow,device=pump-3 rate=1") == 204
            assert write(http, "cpu,host=web-1 usage=2") == 204
            assert time.monotonic() - started < 5, "writes waited for Redis"
            by_value = {s["value"]: s["labels"] for s in samples_in_kafka(env, 2)}
            assert by_value == {1: {"device": "pump-3", "site": "plant-1"}, 2: {"host": "web-1", "team": "payments"}}
