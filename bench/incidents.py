"""Alert transitions/s through grouping, dedup, silences, inhibition and escalation on one worker.

Two figures:
- **engine**: the incident engine in one process (routing tree, group_by, group state, flushes
  on the worker's 1-second timer, escalation timers), fed a replay of alert transitions on a
  simulated clock, so the figure is the engine's own cost per transition;
- **worker**: one `vigil streams` worker draining a routed topic filled the way the rules
  engine's agents fill it (one record per group partition per batch of transitions), read from
  the worker's `vigil_streams_routed_transitions_total`; this adds Kafka, Faust and the state
  changelog to the engine.
Shape: 20,000 alerts in 1,000 groups (group_by cluster), each alert firing and resolving 5
times; group_wait 30 s, group_interval 5 m, escalate_after 15 m, critical_after 5 m; 50
silences and an inhibit rule are in force.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import orjson
import yaml

from bench.http_load import cpu_seconds
from kernel.kafka import ensure_topics, make_producer
from schemas.records import AlertEvent
from schemas.series_id import fingerprint
from kernel.alerting.config import parse_alerting_config
from streams.incidents.engine import IncidentEngine
from streams.incidents.memory_store import MemoryStore
from kernel.alerting.silences import SilenceIndex, Silence
from kernel.matchers import parse_matcher
from infra.sandbox import VigilEnv, free_port

GROUPS, ALERTS_PER_GROUP, CYCLES, BATCH = 1_000, 20, 5, 500
TRANSITIONS = GROUPS * ALERTS_PER_GROUP * CYCLES * 2
SIM_STEP_MS = 5  # simulated time between transitions: 200k transitions span ~17 simulated minutes
SHAPE = (f"{GROUPS * ALERTS_PER_GROUP:,} alerts in {GROUPS:,} groups, {TRANSITIONS:,} transitions "
         f"(each alert fires and resolves {CYCLES} times)")
CONFIG = {
    "route": {"receiver": "pager", "group_by": ["cluster"], "group_wait": "30s", "group_interval": "5m",
              "repeat_interval": "4h", "routes": [{"matchers": ['severity="critical"'], "receiver": "lead",
                                                    "continue": True}]},
    "receivers": [{"name": "pager"}, {"name": "lead"}],
    "inhibit_rules": [{"source_matchers": ['alertname="ClusterDown"'], "target_matchers": ['severity="warning"'],
                       "equal": ["cluster"]}],
    "escalation_policies": [{"name": "default", "escalate_after": "15m", "critical_after": "5m"}],
}
_COUNTER = re.compile(r"^vigil_streams_routed_transitions_total ([0-9.e+]+)$", re.M)


def transitions(t0: int):
    """The replay: (event, time) in event-time order."""
    at = t0
    for cycle in range(CYCLES):
        for status in ("FIRING", "RESOLVED"):
            for a in range(GROUPS * ALERTS_PER_GROUP):
                labels = {"alertname": "HighCPU", "cluster": f"c{a % GROUPS}", "host": f"h{a}",
                          "severity": "warning" if a % 3 else "critical"}
                at += SIM_STEP_MS
                yield AlertEvent(fingerprint=fingerprint(labels), sequence=cycle * 2 + (status == "RESOLVED") + 1,
                                 status=status, rule_id="cpu", rule_version=1, alertname="HighCPU", labels=labels,
                                 annotations={"summary": "cpu high"}, value=99.0, series_id=a, starts_at_ms=at,
                                 ends_at_ms=at if status == "RESOLVED" else None, event_time_ms=at)


def silences(t0: int) -> SilenceIndex:
    """50 silences over clusters c0..c49 for the first simulated 10 minutes."""
    return SilenceIndex(Silence(id=f"s{i}", matchers=(parse_matcher(f'cluster="c{i}"'),), starts_ms=t0,
                                ends_ms=t0 + 600_000, created_by="bench", comment="") for i in range(50))


def engine_run() -> dict:
    """The replay through one in-process engine, ticking every simulated second."""
    t0 = 1_764_000_000_000
    config = parse_alerting_config(CONFIG, "bench")
    index = silences(t0)
    engine = IncidentEngine(lambda: config, MemoryStore(), 16, silences=lambda: index)
    pages = events = count = 0
    batch: dict[int, list[dict]] = {}
    next_tick = t0 + 1_000
    started = time.perf_counter()
    for event in transitions(t0):
        count += 1
        for routed in engine.route(event):
            batch.setdefault(routed.partition, []).append(routed.item)
        if count % BATCH == 0 or event["event_time_ms"] >= next_tick:
            now = event["event_time_ms"]
            for partition, items in batch.items():
                for out in engine.on_routed(items, partition, now):
                    pages += len(out.notes)
                    events += len(out.events)
            batch.clear()
            while next_tick <= now:
                for out in engine.tick(next_tick, set(range(16))):
                    pages += len(out.notes)
                    events += len(out.events)
                next_tick += 1_000
    seconds = time.perf_counter() - started
    return {"transitions": count, "seconds": seconds, "per_s": count / seconds, "pages": pages,
            "incident_events": events, "decisions": dict(engine.decisions)}


def worker_run(env: VigilEnv, tmp: Path) -> dict:
    """Fill the routed topic, then time one worker draining it."""
    settings = env.settings
    ensure_topics(settings)
    config = tmp / "alerting.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    parsed = parse_alerting_config(CONFIG, "bench")
    engine = IncidentEngine(lambda: parsed, MemoryStore(), settings.metrics_partitions)
    producer = make_producer(settings)
    batch: dict[int, list[dict]] = {}
    count = 0
    now = int(time.time() * 1000) - TRANSITIONS * SIM_STEP_MS

    def flush() -> None:
        for partition, items in batch.items():
            producer.produce(settings.topics.routed, orjson.dumps(items), key=str(partition).encode(),
                             partition=partition)
        producer.poll(0)
        batch.clear()

    for event in transitions(now):
        count += 1
        for routed in engine.route(event):
            batch.setdefault(routed.partition, []).append(routed.item)
        if count % BATCH == 0:
            flush()
    flush()
    producer.flush(60)
    port = free_port()
    proc = env.start("streams", extra_env={"VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_ALERTING_CONFIG": str(config),
                                           "VIGIL_DATA_DIR": str(tmp / "faust"), "VIGIL_LOG_LEVEL": "WARNING"})

    def done() -> float:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return 0.0
        m = _COUNTER.search(text)
        return float(m.group(1)) if m else 0.0

    deadline = time.monotonic() + 600
    while done() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    started, cpu0 = time.monotonic(), cpu_seconds(proc.pid)  # from the first transition taken
    last, still = -1.0, 0
    while time.monotonic() < deadline:
        seen = done()
        if seen == last:
            still += 1
            if still >= 20:  # 2 s without progress: drained
                break
        else:
            last, still = seen, 0
        time.sleep(0.1)
    seconds = time.monotonic() - started - 2.0
    cpu = cpu_seconds(proc.pid) - cpu0
    proc.stop(timeout=10)
    return {"transitions": last, "seconds": seconds, "per_s": last / seconds, "cpu_share": cpu / (seconds + 2.0)}
