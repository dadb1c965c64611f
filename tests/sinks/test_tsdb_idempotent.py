"""Writing the same metrics twice stores them once: a retried ingest publish or a sink re-reading after a crash.

The store is idempotent because VictoriaMetrics runs with `-dedup.minScrapeInterval=1ms` (infra/stack/parts.py):
it keeps one sample per series and millisecond, at query time and when it merges parts.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
import urllib.request
from types import SimpleNamespace

import pytest

from schemas import codec
from sinks.base import Consumed
from sinks.tsdb import TsdbSink
from tests.harness import free_port, wait_until
from tests.sinks.kafka_offsets import committed, merge_ends, produce
from tests.sinks.test_tsdb_sink import COMMIT_SOON, expected, metric_batches, stored_when_complete, tsdb_group

pytestmark = pytest.mark.integration


def count_over_time(tsdb_port: int, name: str) -> float:
    """Samples of metric `name` in the last hour, over all its series, as PromQL counts them."""
    query = urllib.parse.urlencode({"query": f'sum(count_over_time({{__name__="{name}"}}[1h]))'})
    with urllib.request.urlopen(f"http://127.0.0.1:{tsdb_port}/api/v1/query?{query}", timeout=5) as resp:
        result = json.loads(resp.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def write_twice(tsdb_port: int, records: list[Consumed]) -> None:
    """The same records through two sink instances: a sink that crashed before committing, then its successor."""
    for _ in range(2):
        sink = TsdbSink(f"http://127.0.0.1:{tsdb_port}", timeout_s=10, max_lines=1000)
        try:
            assert sink.write(records) > 0
        finally:
            sink.close()


def test_a_batch_the_sink_writes_twice_is_stored_once(stack):
    name = f"t{secrets.token_hex(4)}_dedup_sink"
    now = int(time.time() * 1000) - 10_000  # inside -search.latencyOffset's window for the instant query
    # Two series; one sample per second, plus one a millisecond later: a neighbour, not a duplicate.
    samples = [{"series_id": i, "name": name, "labels": {"host": f"web-{i}"}, "value": float(k),
                "timestamp_ms": now - 1000 * k} for i in range(2) for k in range(3)]
    samples.append({**samples[0], "value": 99.0, "timestamp_ms": samples[0]["timestamp_ms"] + 1})
    body = codec.series_batch().encode({"partition": 0, "source": "test", "accepted_at_ms": now, "samples": samples})
    write_twice(stack.tsdb_port, [Consumed("metrics", 0, 0, codec.series_batch().columns(body))])

    env = SimpleNamespace(stack=stack)  # all that stored_when_complete() reads of a vigil_env
    assert stored_when_complete(env, name, samples) == expected(samples)
    assert count_over_time(stack.tsdb_port, name) == len(samples)


def test_a_batch_published_twice_is_stored_once(vigil_env):
    """Ingest died after Kafka acked but before answering: the sender's retry publishes the batch again."""
    name = f"{vigil_env.prefix}_dedup_published"
    samples, records = metric_batches(vigil_env, name)
    topic = vigil_env.settings.topics.metrics
    ends = merge_ends(produce(vigil_env.settings, topic, records), produce(vigil_env.settings, topic, records))
    port = free_port()
    vigil_env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port), **COMMIT_SOON})

    wait_until(lambda: committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends) == ends,
               message="offsets committed past both copies")
    assert stored_when_complete(vigil_env, name, samples) == expected(samples)
    # -search.latencyOffset hides the last second from an instant query for a moment: wait for it, not more.
    wait_until(lambda: count_over_time(vigil_env.stack.tsdb_port, name) == len(samples), timeout=10,
               message=f"count_over_time == {len(samples)}")
