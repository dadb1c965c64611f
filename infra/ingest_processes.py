"""`vigil ingest` with VIGIL_INGEST_PROCESSES > 1: several ingest processes sharing one port.

One Python process parses and encodes at most one core's worth of samples (the GIL). Each child
is a whole `vigil ingest` binding the same port with SO_REUSEPORT, so the kernel spreads incoming
connections over them; nothing else changes for senders. Only the first child runs the StatsD
listener and the scrape loop: a StatsD counter aggregated in two processes would be written twice
with the same timestamp, the second overwriting the first. /metrics sums every child
(prometheus_client's multiprocess mode). When a child dies, the others are stopped and the command
exits non-zero, so the supervisor above (`vigil up`, docker) restarts the whole set.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from infra.process import die_with_parent
from kernel.settings import IngestSettings

log = logging.getLogger(__name__)
CHILD_ENV = "VIGIL_INGEST_CHILD"  # set in a child: serve on the shared port, don't supervise


def supervise(settings: IngestSettings) -> None:
    """Start `settings.ingest_processes` children on the shared port and wait; exit 1 if one dies."""
    metrics_dir = tempfile.mkdtemp(prefix="vigil-ingest-metrics-")
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    try:
        for index in range(settings.ingest_processes):
            env = {**os.environ, CHILD_ENV: str(index), "VIGIL_INGEST_REUSE_PORT": "true",
                   "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
            if index > 0:
                env.update(VIGIL_STATSD_PORT="0", VIGIL_SCRAPE="false")
            children.append(subprocess.Popen([sys.executable, "-m", "infra.cli", "ingest"], env=env,
                                             stdin=subprocess.DEVNULL, preexec_fn=die_with_parent))
        log.info("ingest: %d processes on %s:%d (SO_REUSEPORT)", len(children), settings.ingest_host,
                 settings.ingest_port)
        while not stopping:
            dead = [c for c in children if c.poll() is not None]
            if dead:
                log.error("ingest process %d exited with %s; stopping the others", dead[0].pid, dead[0].returncode)
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if not stopping:
        raise SystemExit(1)
