"""Samples/s through rule evaluation on one `vigil streams` worker holding 1,000 rules.

The metrics topic is filled first (MetricBatches of 500 samples, as ingest writes them), then
one worker starts and evaluates it; the figure is samples evaluated per second of its run,
read from its own `vigil_streams_rule_samples_total`. Rules: 100 metrics × 10 rules, each rule
selecting one shard of its metric's series with a regex matcher, so every sample matches one
rule after the index picked the 10 rules of its metric. Two mixes: "threshold" (1,000 threshold
rules with `for`, what a Prometheus rule file mostly holds) and "mixed" (700 threshold, 100 rate,
100 avg_over_time, 100 max_over_time over 5m windows: 30% of samples also update a window that
is checkpointed to the changelog before each commit).
"""

from __future__ import annotations

import re
import time

import httpx
import yaml

from bench.http_load import cpu_seconds
from kernel.kafka import ensure_topics, make_producer
from schemas import codec
from schemas.series_id import partition_for, series_id
from infra.sandbox import VigilEnv, free_port

METRICS, RULES_PER_METRIC, HOSTS, ROUNDS, BATCH = 100, 10, 200, 30, 500
SAMPLES = METRICS * HOSTS * ROUNDS
SHAPE = (f"{METRICS * RULES_PER_METRIC:,} rules over {METRICS} metrics, {METRICS * HOSTS:,} series, "
         f"{SAMPLES:,} samples in batches of {BATCH}")
_COUNTER = re.compile(r'^vigil_streams_rule_samples_total\{outcome="[a-z_]+"\} ([0-9.e+]+)$', re.M)


MIXES = ("threshold", "mixed")


def rules(mix: str = "mixed") -> dict:
    """The 1,000 rules, each on one shard of one metric."""
    out = []
    for m in range(METRICS):
        for r in range(RULES_PER_METRIC):
            rule = {"id": f"m{m}-r{r}", "alert": f"Bench{m}", "metric": f"bench_metric_{m}",
                    "matchers": [f'shard=~"{r}"'], "op": ">", "threshold": 95, "for": "30s",
                    "annotations": {"summary": "{{ $labels.host }} at {{ $value }}"}}
            if mix == "threshold":
                pass
            elif r == 7:
                rule.update(type="rate", window="5m", threshold=1e9)
            elif r == 8:
                rule.update(type="avg_over_time", window="5m")
            elif r == 9:
                rule.update(type="max_over_time", window="5m", threshold=99.9)
            out.append(rule)
    return {"rules": out}


def fill(env: VigilEnv) -> None:
    """Write every sample to the metrics topic, grouped by partition like ingest does."""
    settings = env.settings
    ensure_topics(settings)
    producer, batch_codec = make_producer(settings), codec.series_batch()
    start = int(time.time() * 1000) - ROUNDS * 10_000
    series = [(f"bench_metric_{m}", {"host": f"h{h}", "shard": str(h % RULES_PER_METRIC), "dc": "eu-1"})
              for m in range(METRICS) for h in range(HOSTS)]
    ids = [series_id(name, labels) for name, labels in series]
    pending: dict[int, list] = {}
    for round_ in range(ROUNDS):
        ts = start + round_ * 10_000
        for (name, labels), sid in zip(series, ids):
            value = float((sid + round_ * 7) % 100)
            p = partition_for(sid, settings.metrics_partitions)
            samples = pending.setdefault(p, [])
            samples.append({"series_id": sid, "name": name, "labels": labels, "value": value, "timestamp_ms": ts})
            if len(samples) == BATCH:
                _send(producer, batch_codec, settings, p, samples)
                pending[p] = []
    for p, samples in pending.items():
        if samples:
            _send(producer, batch_codec, settings, p, samples)
    assert producer.flush(60) == 0


def _send(producer, batch_codec, settings, partition: int, samples: list) -> None:
    batch = {"partition": partition, "source": "bench", "accepted_at_ms": int(time.time() * 1000), "samples": samples}
    producer.produce(settings.topics.metrics, batch_codec.encode(batch), key=str(partition).encode(),
                     partition=partition)
    producer.poll(0)


def evaluated(port: int) -> float:
    """Samples the worker has evaluated so far, every outcome."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(float(v) for v in _COUNTER.findall(text))


def run(env: VigilEnv, workdir, mix: str) -> dict[str, float]:
    """Fill the topic, start one worker, time it through every sample."""
    rules_file = workdir / "bench-rules.yaml"
    rules_file.write_text(yaml.safe_dump(rules(mix)))
    fill(env)
    port = free_port()
    proc = env.start("streams", health_port=port, extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_RULES_FILE": str(rules_file),
        "VIGIL_DATA_DIR": str(workdir / "faust"), "VIGIL_LOG_LEVEL": "WARNING"})
    while evaluated(port) == 0:
        time.sleep(0.05)
    began, cpu0 = time.perf_counter(), cpu_seconds(proc.pid)
    last, last_change = 0.0, time.perf_counter()
    while True:
        done = evaluated(port)
        if done >= SAMPLES:
            break
        if done != last:
            last, last_change = done, time.perf_counter()
        elif time.perf_counter() - last_change > 30:
            raise SystemExit(f"the worker stopped at {done:,.0f} of {SAMPLES:,} samples")
        time.sleep(0.1)
    seconds = time.perf_counter() - began
    return {"samples": SAMPLES, "seconds": seconds, "samples_per_s": SAMPLES / seconds,
            "cpu_share": (cpu_seconds(proc.pid) - cpu0) / seconds}
