"""`vigil sinks`, metrics side: MetricBatches on Kafka end up, exactly, in VictoriaMetrics."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest

from schemas import codec
from schemas.records import Sample
from schemas.series_id import partition_for, series_id
from tests.harness import closed_port, free_port, wait_until
from tests.sinks.kafka_offsets import committed, metric, produce

pytestmark = pytest.mark.integration

# These tests are about what is committed, not when: commit a second after the write rather than after
# the 15 s the store may take to have it on disk (test_tsdb_durability.py is about that).
COMMIT_SOON = {"VIGIL_TSDB_DURABLE_AFTER_S": "1"}


def metric_batches(vigil_env, name: str) -> tuple[list[Sample], list[tuple[bytes, bytes, int]]]:
    """Samples of 8 series with labels that need escaping, grouped into one MetricBatch per partition."""
    now = int(time.time() * 1000)
    # VictoriaMetrics keeps ~12 significant digits (decimal storage): use values it holds exactly.
    values = [0.1, 1e20, 3.0, -2.5e-7, 42.0, 0.125, 7.0, 1e-300]
    samples: list[Sample] = []
    for i, value in enumerate(values):
        labels = {"host": f"web {i}", "path": "/a,b=c", "quote": 'say "hi"\\', "empty": "", "i": str(i)}
        samples.append({"series_id": series_id(name, labels), "name": name, "labels": labels,
                        "value": value, "timestamp_ms": now - 1000 * i})
        samples.append({**samples[-1], "value": value * 2, "timestamp_ms": now - 1000 * i + 1})
    partitions = vigil_env.settings.metrics_partitions
    by_partition: dict[int, list[Sample]] = {}
    for s in samples:
        by_partition.setdefault(partition_for(s["series_id"], partitions), []).append(s)
    assert len(by_partition) >= 2, "the test data must cover several partitions"
    records = [(codec.series_batch().encode({"partition": p, "source": "test", "accepted_at_ms": now,
                                             "samples": batch}), str(p).encode(), p)
               for p, batch in by_partition.items()]
    return samples, records


def exported(vigil_env, name: str) -> dict[tuple, list[tuple[int, float]]]:
    """VictoriaMetrics' exact points of metric `name`: {sorted labels: [(ts_ms, value), ...]}."""
    base = f"http://127.0.0.1:{vigil_env.stack.tsdb_port}"
    urllib.request.urlopen(f"{base}/internal/force_flush", timeout=5).read()  # make fresh points searchable
    query = urllib.parse.urlencode({"match[]": f'{{__name__="{name}"}}'})
    with urllib.request.urlopen(f"{base}/api/v1/export?{query}", timeout=5) as resp:
        lines = resp.read().decode().splitlines()
    series = {}
    for line in lines:
        item = json.loads(line)
        labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__"))
        series[labels] = sorted(zip(item["timestamps"], item["values"]))
    return series


def expected(samples: list[Sample]) -> dict[tuple, list[tuple[int, float]]]:
    """What the TSDB should hold for `samples`: empty labels are not stored."""
    series: dict[tuple, list] = {}
    for s in samples:
        labels = tuple(sorted((k, v) for k, v in s["labels"].items() if v))
        series.setdefault(labels, []).append((s["timestamp_ms"], s["value"]))
    return {k: sorted(v) for k, v in series.items()}


def stored_when_complete(vigil_env, name: str, samples: list[Sample]) -> dict[tuple, list[tuple[int, float]]]:
    """What VictoriaMetrics holds for `name` once every series of `samples` is visible (new ones take a moment)."""
    count = len(expected(samples))
    return wait_until(lambda: (lambda got: got if len(got) == count else None)(exported(vigil_env, name)),
                      message="every series visible in VictoriaMetrics")


def tsdb_group(vigil_env) -> str:
    """The TSDB sink's consumer group in this test's prefix."""
    return f"{vigil_env.prefix}.sinks.tsdb"


def test_samples_are_stored_exactly_and_offsets_committed(vigil_env):
    name = f"{vigil_env.prefix}_sink_exact"
    samples, records = metric_batches(vigil_env, name)
    ends = produce(vigil_env.settings, vigil_env.settings.topics.metrics, records)
    port = free_port()
    vigil_env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port), **COMMIT_SOON})

    wait_until(lambda: committed(vigil_env.settings, tsdb_group(vigil_env), vigil_env.settings.topics.metrics,
                                 ends) == ends, message="offsets committed up to the end of what was produced")
    assert stored_when_complete(vigil_env, name, samples) == expected(samples)
    assert metric(port, "vigil_sink_rows_written_total", sink="tsdb") == len(samples)


def test_unreachable_tsdb_commits_nothing_logs_once_and_loses_nothing(vigil_env):
    name = f"{vigil_env.prefix}_sink_retry"
    samples, records = metric_batches(vigil_env, name)
    topic = vigil_env.settings.topics.metrics
    ends = produce(vigil_env.settings, topic, records)
    port = free_port()
    down = vigil_env.start("sinks", health_port=port, name="sinks-no-tsdb", extra_env={
        "VIGIL_SINKS_HEALTH_PORT": str(port), "VIGIL_TSDB_URL": f"http://127.0.0.1:{closed_port()}",
        "VIGIL_SINKS_BACKOFF_INITIAL_S": "0.1", "VIGIL_SINKS_BACKOFF_MAX_S": "0.2", **COMMIT_SOON})

    wait_until(lambda: metric(port, "vigil_sink_write_failures_total", sink="tsdb", reason="unreachable") >= 5,
               message="several failed write attempts")
    assert metric(port, "vigil_sink_retrying", sink="tsdb") == 1
    assert all(offset < 0 for offset in committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends).values())
    log = vigil_env.log(down)
    assert log.count("TSDB unreachable") == 1, log

    down.stop()
    assert down.popen.returncode == 0, vigil_env.log(down)
    assert all(offset < 0 for offset in committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends).values())

    # Pointed at the real store again, the sink writes everything it could not write before.
    port = free_port()
    vigil_env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port), **COMMIT_SOON})
    wait_until(lambda: committed(vigil_env.settings, tsdb_group(vigil_env), topic, ends) == ends,
               message="offsets committed once the TSDB is reachable")
    assert stored_when_complete(vigil_env, name, samples) == expected(samples)
