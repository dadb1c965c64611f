"""Posting prepared bodies to one ingest process with concurrent clients, counted back from Kafka.

Every 2xx counts only once Kafka acknowledged the data, so the figure is "into Kafka"; the
samples are then counted back from the metrics topic to check nothing was lost.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from schemas import codec
from infra.sandbox import VigilEnv, free_port
from infra.topic_reader import TopicReader

CLIENTS = 4


@dataclass(frozen=True)
class Load:
    """What one protocol benchmark posts: bodies, where, with which headers, and what they hold."""

    path: str
    bodies: list[bytes]
    headers: dict[str, str]
    samples: int  # samples all bodies hold together
    warmup: list[bytes]  # sent before timing: opens the Kafka connection, fills per-series caches
    warmup_samples: int  # samples the warmup bodies hold together


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def accepted(port: int, protocol: str) -> float:
    """A process's `vigil_ingest_samples_accepted_total{protocol}` from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=5) as resp:
        return sum(float(line.rsplit(" ", 1)[1]) for line in resp.read().decode().splitlines()
                   if line.startswith(f'vigil_ingest_samples_accepted_total{{protocol="{protocol}"}}'))


def run(env: VigilEnv, load: Load) -> dict[str, float]:
    """Post every body with CLIENTS concurrent clients to a fresh ingest; returns the measured figures."""
    port = free_port()
    ingest = env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port)})
    url = f"http://127.0.0.1:{port}{load.path}"
    with httpx.Client(timeout=60, headers=load.headers) as warm:
        for body in load.warmup:
            answer = warm.post(url, content=body)
            assert answer.is_success, answer.text
    queue = list(load.bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(timeout=60, headers=load.headers) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                answer = http.post(url, content=body)
                if not answer.is_success or answer.content.strip(b"{}\n"):  # OTLP: a partial success
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    cpu_before = cpu_seconds(ingest.popen.pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    ingest_cpu = cpu_seconds(ingest.popen.pid) - cpu_before
    if failures:
        raise SystemExit(f"ingest refused bodies: {failures[:3]}")
    reader = TopicReader(env.settings, env.settings.topics.metrics, codec.series_batch())
    expected = load.samples + load.warmup_samples
    reader.wait_for(lambda r: sum(len(b["samples"]) for b in r) >= expected, timeout=180,
                    what=f"{load.samples} samples in Kafka")
    counted = sum(len(b["samples"]) for b in reader.records) - load.warmup_samples
    reader.close()
    return {"samples": load.samples, "seconds": elapsed, "samples_per_s": load.samples / elapsed,
            "bodies_per_s": len(load.bodies) / elapsed, "counted_in_kafka": counted,
            "ingest_cpu_share": ingest_cpu / elapsed}
