"""Latency from a sample accepted by ingest (its 204) to the page arriving at the receiver.

Light load: one probe at a time, each a new series whose first sample crosses a `for: 0s`
threshold, through ingest → Kafka → Faust rules → routing → notifier → Slack-style webhook.
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx

from infra.demo.receiver import DemoReceiver
from infra.sandbox import VigilEnv, free_port

PROBES = 40
RULES = """
rules:
  - id: probe
    alert: LatencyProbe
    metric: probe_value
    op: ">"
    threshold: 0
    annotations: {summary: "probe {{ $labels.probe }}"}
"""


def run(env: VigilEnv, workdir) -> dict[str, float]:
    """Send PROBES probes one after another; returns p50/p99/max in milliseconds."""
    rules = workdir / "latency-rules.yaml"
    rules.write_text(RULES)
    arrived: dict[str, float] = {}
    cond = threading.Condition()

    def on_page(page: dict) -> None:
        text = page.get("text", "")
        with cond:
            for word in text.split():
                if word.startswith("p-"):
                    arrived.setdefault(word.strip(".,:"), time.perf_counter())
            cond.notify_all()

    receiver = DemoReceiver(free_port(), on_page=on_page)
    receiver.start()
    ports = {name: free_port() for name in ("ingest", "streams", "notifier")}
    extra = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
             "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]), "VIGIL_RULES_FILE": str(rules),
             "VIGIL_DATA_DIR": str(workdir / "faust"), "VIGIL_SLACK_WEBHOOK_URL": receiver.url}
    for name in ("ingest", "streams", "notifier"):
        env.start(name, health_port=ports[name], extra_env=extra)
    url = f"http://127.0.0.1:{ports['ingest']}/write?precision=ms"
    latencies = []
    try:
        with httpx.Client(timeout=30) as http:
            for i in range(PROBES + 3):  # the first three warm the path up and are not counted
                probe = f"p-{i}"
                answer = http.post(url, content=f"probe,probe={probe} value=1 {int(time.time() * 1000)}".encode())
                accepted = time.perf_counter()
                assert answer.status_code == 204, answer.text
                with cond:
                    if not cond.wait_for(lambda: probe in arrived, timeout=30):
                        raise SystemExit(f"no page for {probe} within 30 s")
                if i >= 3:
                    latencies.append((arrived[probe] - accepted) * 1000)
                # One Slack channel takes a message per second (notifier/limiter.py): probes closer
                # together would measure the limiter's wait, not the pipeline.
                time.sleep(1.0)
    finally:
        receiver.stop()
    latencies.sort()
    return {"probes": len(latencies), "p50_ms": statistics.median(latencies),
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], "max_ms": latencies[-1]}
