"""Demo traffic for `vigil up`: hosts and sensors written through influxdb-client, a real Influx client.

web-3's CPU spikes above 90% for 40 s of every 120 s (the first spike 15 s after start), so
the demo rule `HighCPU` (for: 10s) fires and resolves every cycle.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time

from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

log = logging.getLogger(__name__)

HOSTS = [f"web-{i}" for i in range(1, 7)]
SENSORS = ["greenhouse", "server-room", "cellar"]
SPIKE_HOST = "web-3"
CYCLE_S, SPIKE_START_S, SPIKE_LEN_S = 120, 15, 40
DEVICES = {h: {"team": "web", "site": "ams-1", "rack": f"r{i % 3 + 1}"} for i, h in enumerate(HOSTS)}


def cpu_value(host: str, elapsed: float, rng: random.Random) -> float:
    """Percent CPU of a host at `elapsed` seconds into the demo."""
    if host == SPIKE_HOST and SPIKE_START_S <= elapsed % CYCLE_S < SPIKE_START_S + SPIKE_LEN_S:
        return 92 + rng.random() * 7
    return 20 + 15 * math.sin(elapsed / 30 + HOSTS.index(host)) + rng.random() * 5


def lines_at(elapsed: float, now_ms: int, rng: random.Random) -> list[str]:
    """One round of line protocol: CPU per host, temperature and humidity per sensor."""
    lines = []
    for host in HOSTS:
        user = cpu_value(host, elapsed, rng)
        lines.append(f"cpu,host={host},cpu=cpu-total usage_user={user:.2f},usage_system={user / 4:.2f},"
                     f"usage_idle={max(0.0, 100 - user * 1.25):.2f} {now_ms}")
    for i, sensor in enumerate(SENSORS):
        temp = 21 + 3 * math.sin(elapsed / 60 + i) + rng.random()
        lines.append(f"sensor,host={sensor},kind=zigbee temperature={temp:.2f},humidity={55 + 10 * math.sin(elapsed / 90):.1f},"
                     f"battery={90 - i}i {now_ms}")
    return lines


class DemoTraffic:
    """Writes a round of demo lines every `interval_s` seconds on a daemon thread."""

    def __init__(self, ingest_url: str, interval_s: float = 1.0) -> None:
        self._client = InfluxDBClient(url=ingest_url, token="demo", org="demo", timeout=10_000)
        self._write = self._client.write_api(write_options=SYNCHRONOUS)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self.samples_sent = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        rng = random.Random(7)
        started = time.monotonic()
        while not self._stop.is_set():
            lines = lines_at(time.monotonic() - started, int(time.time() * 1000), rng)
            try:
                self._write.write(bucket="demo", record=lines, write_precision="ms")
                self.samples_sent += sum(line.split(" ")[1].count("=") for line in lines)
                self.last_error = None
            except Exception as exc:  # shown in the live view; the next round retries
                self.last_error = str(exc)[:200]
            self._stop.wait(self._interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()
