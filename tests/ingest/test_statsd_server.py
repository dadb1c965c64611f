"""StatsD over real UDP and TCP from the `statsd` client library and raw DogStatsD datagrams, into Kafka."""

from __future__ import annotations

import socket

import pytest
import statsd

from schemas import codec
from tests.harness import free_port
from tests.ingest.test_influx_http import samples_in_kafka
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture
def statsd_port(vigil_env):
    """A running `vigil ingest` flushing StatsD every 0.5 s; yields its StatsD port (UDP and TCP)."""
    port = free_port()
    vigil_env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port),
                                                          "VIGIL_STATSD_FLUSH_INTERVAL_S": "0.5"})
    return int(vigil_env.env["VIGIL_STATSD_PORT"])


def by_series(samples: list[dict]) -> dict[tuple, list[float]]:
    out: dict[tuple, list[float]] = {}
    for s in samples:
        out.setdefault((s["name"], tuple(sorted(s["labels"].items()))), []).append(s["value"])
    return out


def test_statsd_client_counters_timers_gauges_and_sets_are_aggregated(vigil_env, statsd_port):
    client = statsd.StatsClient("127.0.0.1", statsd_port, prefix="shop")
    with client.pipeline() as pipe:  # one datagram with many lines
        for _ in range(10):
            pipe.incr("orders")
        for ms in range(1, 101):
            pipe.timing("checkout", ms)
        pipe.gauge("queue", 40)
        pipe.gauge("queue", 2, delta=True)
        for user in ("ann", "bob", "ann"):
            pipe.set("users", user)
    tcp = statsd.TCPStatsClient("127.0.0.1", statsd_port, prefix="shop")
    tcp.incr("orders", 5)
    tcp.close()
    got = by_series(samples_in_kafka(vigil_env, 12))
    assert sum(got[("shop_orders", ())]) == 15  # UDP and TCP into the same counter
    assert got[("shop_checkout_count", ())] == [100] and got[("shop_checkout_sum", ())] == [5050]
    assert got[("shop_checkout", (("quantile", "0.9"),))] == [90]
    assert got[("shop_queue", ())][0] == 42 and got[("shop_users", ())] == [2]


def test_dogstatsd_tags_and_sample_rates(vigil_env, statsd_port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"api.requests:1|c|@0.1|#env:prod,host:web-1\napi.requests:2|c|#env:prod,host:web-1\n"
                   b"latency:250|d|#env:prod\n_sc|disk|0\n", ("127.0.0.1", statsd_port))
    got = by_series(samples_in_kafka(vigil_env, 4))
    assert got[("api_requests", (("env", "prod"), ("host", "web-1")))] == [12]
    assert got[("latency_count", (("env", "prod"),))] == [1]


def test_bad_lines_are_dead_lettered_and_good_lines_in_the_same_datagram_kept(vigil_env, statsd_port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"good:1|c\nno_type:1\nbad:abc|g\nworse:1|zz\n\xff\xfe:1|c\nalso_good:3|g",
                   ("127.0.0.1", statsd_port))
    got = by_series(samples_in_kafka(vigil_env, 3))
    assert got[("good", ())] == [1] and got[("also_good", ())][0] == 3  # gauges are re-sent each flush
    rejects = TopicReader(vigil_env.settings, vigil_env.settings.topics.rejects, codec.reject())
    records = rejects.wait_for(lambda r: len(r) >= 4, what="4 rejects")
    rejects.close()
    reasons = {r["location"].rsplit(" ", 2)[-1]: r["reason"] for r in records}
    assert set(reasons) == {"2", "3", "4", "5"}
    assert "missing '|'" in reasons["2"] and "invalid value 'abc'" in reasons["3"]
    assert "unknown type 'zz'" in reasons["4"] and "not valid UTF-8" in reasons["5"]
    assert all(r["protocol"] == "statsd" and r["location"].startswith("udp:127.0.0.1 line") for r in records)
