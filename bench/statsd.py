"""StatsD over UDP: lines/s one ingest process parses and aggregates, and what it drops, per offered rate.

UDP has no flow control: the sender paces datagrams at an offered rate, the kernel drops what the
ingest process can't read in time, and the figure is what ingest counted
(`vigil_ingest_statsd_metrics_total`) against what was sent.
"""

from __future__ import annotations

import socket
import time
import urllib.request

from bench.http_load import cpu_seconds
from infra.sandbox import VigilEnv, free_port

OFFERED_LINES_PER_S = (100_000, 300_000, 500_000)
SECONDS = 4
LINES_PER_DATAGRAM = 25
SHAPE = (f"DogStatsD lines in datagrams of {LINES_PER_DATAGRAM} (counters and timers, 2 tags each, 1,000 series), "
         f"offered at {', '.join(f'{r // 1000}k' for r in OFFERED_LINES_PER_S)} lines/s for {SECONDS} s each")


def _parsed(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("vigil_ingest_statsd_metrics_total "):
                return float(line.split()[1])
    return 0.0


def run(env: VigilEnv) -> list[dict[str, float]]:
    """Offer each rate to a fresh ingest in turn; returns per rate: lines/s taken and the share dropped."""
    port = free_port()
    ingest = env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port),
                                                          "VIGIL_STATSD_FLUSH_INTERVAL_S": "1"})
    target = ("127.0.0.1", int(env.env["VIGIL_STATSD_PORT"]))
    lines = [f"api.requests.{n % 500}:1|c|#env:prod,host:web-{n % 20}" if n % 2 else
             f"api.latency.{n % 500}:{n % 250}|ms|#env:prod,host:web-{n % 20}" for n in range(1_000)]
    datagrams = ["\n".join(lines[i:i + LINES_PER_DATAGRAM]).encode() for i in range(0, len(lines), LINES_PER_DATAGRAM)]
    results = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for rate in OFFERED_LINES_PER_S:
            per_tick = max(1, rate // LINES_PER_DATAGRAM // 100)  # datagrams per 10 ms
            before, cpu_before = _parsed(port), cpu_seconds(ingest.popen.pid)
            started = time.perf_counter()
            sent = 0
            for tick in range(SECONDS * 100):
                for _ in range(per_tick):
                    udp.sendto(datagrams[sent % len(datagrams)], target)
                    sent += 1
                time.sleep(max(0.0, started + (tick + 1) / 100 - time.perf_counter()))
            elapsed = time.perf_counter() - started
            time.sleep(1.5)  # let ingest drain its receive buffer
            received = _parsed(port) - before
            offered = sent * LINES_PER_DATAGRAM
            results.append({"offered_per_s": offered / elapsed, "lines_per_s": received / elapsed,
                            "dropped_share": max(0.0, 1 - received / offered),
                            "ingest_cpu_share": (cpu_seconds(ingest.popen.pid) - cpu_before) / (elapsed + 1.5)})
    return results
