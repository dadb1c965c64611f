"""Several ingest processes on one port: senders see one endpoint, every sample lands once, metrics add up."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from schemas import codec
from tests.harness import free_port, wait_http
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration


def _children(pid: int) -> set[int]:
    return {int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()}


def test_two_processes_share_the_port_and_their_metrics_and_stop_together(vigil_env):
    port = free_port()
    proc = vigil_env.start("ingest", extra_env={"VIGIL_INGEST_PORT": str(port), "VIGIL_INGEST_PROCESSES": "2",
                                                "VIGIL_STATSD_PORT": str(free_port())})
    wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    children = _children(proc.popen.pid)
    assert len(children) == 2
    now = int(time.time() * 1000)
    for i in range(40):  # a new connection each time: the kernel spreads them over both processes
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            answer = http.post("/write?precision=ms", content=f"mp,host=h{i} value={i} {now}".encode())
            assert answer.status_code == 204, answer.text
    reader = TopicReader(vigil_env.settings, vigil_env.settings.topics.metrics, codec.series_batch())
    reader.wait_for(lambda r: sum(len(b["samples"]) for b in r) >= 40, what="40 samples")
    reader.read_for(1)
    samples = [s for b in reader.records for s in b["samples"]]
    assert sorted(s["labels"]["host"] for s in samples) == sorted(f"h{i}" for i in range(40))
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics/").text
    assert 'vigil_ingest_samples_accepted_total{protocol="influx"} 40.0' in metrics, "summed over both processes"
    proc.stop()
    assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")], "no ingest process outlives the command"
