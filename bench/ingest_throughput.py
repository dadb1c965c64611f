"""Samples/s from the Influx line protocol endpoint into Kafka, one ingest process.

Every 204 counts only once Kafka acknowledged the batch, so the figure is "into Kafka".
The samples are then counted back from the metrics topic to check nothing was lost.
"""

from __future__ import annotations

import os
import threading
import time

from pathlib import Path

import httpx

from schemas import codec
from tests.harness import VigilEnv, free_port
from tests.kafka_io import TopicReader

LINES_PER_BODY = 5_000
BODIES = 40
CLIENTS = 4
FIELDS = ("usage_user", "usage_system", "usage_idle")


def bodies(now_ms: int) -> list[bytes]:
    """Telegraf-shaped CPU lines: 500 hosts × 8 cpus × 3 fields = 12k series."""
    out = []
    for b in range(BODIES):
        lines = []
        for i in range(LINES_PER_BODY):
            n = b * LINES_PER_BODY + i
            lines.append(f"cpu,host=host-{n % 500},cpu=cpu{n % 8} usage_user={n % 97}.5,usage_system=2.25,"
                         f"usage_idle={n % 89}.1 {now_ms + n}")
        out.append("\n".join(lines).encode())
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(env: VigilEnv) -> dict[str, float]:
    """Post every body with CLIENTS concurrent clients; returns the measured figures."""
    port = free_port()
    ingest = env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port)})
    payloads = bodies(int(time.time() * 1000) - 3_600_000)
    url = f"http://127.0.0.1:{port}/api/v2/write?precision=ms"
    with httpx.Client(timeout=60) as warm:  # first request opens the Kafka connection
        assert warm.post(url, content=b"warmup value=1").status_code == 204
    queue = list(payloads)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                answer = http.post(url, content=body)
                if answer.status_code != 204:
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
    samples = BODIES * LINES_PER_BODY * len(FIELDS)
    reader = TopicReader(env.settings, env.settings.topics.metrics, codec.metric_batch())
    reader.wait_for(lambda r: sum(len(b["samples"]) for b in r) >= samples + 1, timeout=120,
                    what=f"{samples} samples in Kafka")
    counted = sum(len(b["samples"]) for b in reader.records) - 1
    reader.close()
    return {"samples": samples, "seconds": elapsed, "samples_per_s": samples / elapsed,
            "lines_per_s": BODIES * LINES_PER_BODY / elapsed, "counted_in_kafka": counted,
            "ingest_cpu_share": ingest_cpu / elapsed}
