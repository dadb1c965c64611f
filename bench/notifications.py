"""Pages/s through one notifier process to the local receivers, with the limiters at their real rates.

Two figures each for PagerDuty (120 events/min per routing key) and Slack (1 message/s per channel):
- **spread**: many routing keys / channels, one page each, so the limiters never make a send
  wait and the figure is the notifier's own (ledger, limiter and Delivery records per page);
- **one key / one channel**: every page to the same key or channel, so the figure is the limiter's
  rate — it should read ~2 pages/s for PagerDuty and ~1 for Slack, whatever the notifier could do.
Each notification is an incident of 3 alerts; the local receivers check every payload.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench.http_load import cpu_seconds
from infra.demo.receiver import DemoReceiver
from kernel.kafka import make_producer
from infra.stack import Stack
from schemas import codec
from infra.sandbox import VigilEnv, drop_env, free_port, new_env
from schemas.examples import alert, incident

KEYS, PAGES_PER_KEY = 1000, 1  # spread: 1,000 routing keys and 1,000 channels, one page each
ONE_KEY_PAGES = 20
SHAPE = (f"spread: {KEYS:,} PagerDuty routing keys and {KEYS:,} Slack channels, {PAGES_PER_KEY} page(s) each; "
         f"one key: {ONE_KEY_PAGES} pages to one routing key and {ONE_KEY_PAGES} to one channel")


def _config(receiver: DemoReceiver, keys: int) -> str:
    lines = ["route: {receiver: pd-0}", "receivers:"]
    for i in range(keys):
        lines.append(f"  - name: pd-{i}\n    pagerduty_configs: [{{routing_key: '{i:032d}', "
                     f"url: '{receiver.pagerduty_url}'}}]")
        lines.append(f"  - name: chat-{i}\n    slack_configs: [{{api_url: '{receiver.slack_url(f'c{i}')}'}}]")
    return "\n".join(lines) + "\n"


def run(env: VigilEnv, workdir: Path, keys: int, pages_per_key: int) -> dict[str, float]:
    """Publish pages_per_key incidents to each of `keys` PagerDuty and Slack receivers; time their arrival."""
    total = 2 * keys * pages_per_key
    done, warm = threading.Event(), threading.Event()
    arrived = {"pagerduty": [], "slack": []}

    def on_arrival(arrival) -> None:
        if arrival.body.get("dedup_key") == "warm-up":
            warm.set()
            return
        arrived[arrival.dialect].append(arrival.at)
        if sum(map(len, arrived.values())) >= total:
            done.set()

    receiver = DemoReceiver(free_port(), on_arrival=on_arrival)
    receiver.start()
    path = workdir / "alerting.yaml"
    path.write_text(_config(receiver, keys))
    port = free_port()
    notifier = env.start("notifier", health_port=port, extra_env={
        "VIGIL_NOTIFIER_HEALTH_PORT": str(port), "VIGIL_ALERTING_CONFIG": str(path), "VIGIL_LOG_LEVEL": "WARNING"})
    producer, encode = make_producer(env.settings), codec.notification().encode
    alerts = [alert(1), alert(2), alert(3)]
    try:
        # One page first, so the figure leaves out the consumer group join (~3 s on Tansu).
        warm_up = incident("warm-up", receiver="pd-0", alerts=alerts)
        producer.produce(env.settings.topics.notifications, encode(warm_up), key=b"warm-up")
        producer.flush(10)
        if not warm.wait(60):
            raise SystemExit("the notifier did not deliver the warm-up page within 60 s")
        time.sleep(1)  # PagerDuty's limiter slot for pd-0 comes back
        cpu_before = cpu_seconds(notifier.popen.pid)
        started = time.monotonic()
        for n in range(pages_per_key):
            for i in range(keys):
                for name in (f"pd-{i}", f"chat-{i}"):
                    note = incident(f"{name}-{n}", receiver=name, alerts=alerts)
                    producer.produce(env.settings.topics.notifications, encode(note), key=note["dedup_key"].encode())
            producer.poll(0)
        assert producer.flush(30) == 0
        if not done.wait(600):
            raise SystemExit(f"only {sum(map(len, arrived.values()))} of {total} pages arrived within 600 s")
        elapsed = max(max(v) for v in arrived.values() if v) - started
        cpu = cpu_seconds(notifier.popen.pid) - cpu_before
    finally:
        receiver.stop()
    rates = {kind: (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
             for kind, times in arrived.items()}
    return {"pages": total, "seconds": elapsed, "pages_per_s": total / elapsed, "cpu_share": cpu / elapsed,
            "pagerduty_per_s": rates["pagerduty"], "slack_per_s": rates["slack"]}


def bench(stack: Stack) -> None:
    """Print the spread and the one-key figures, each on its own slice of the stack."""
    print(f"notifications: {SHAPE}; one notifier process, real limiter rates", flush=True)
    for label, keys, per_key in (("spread", KEYS, PAGES_PER_KEY), ("one key", 1, ONE_KEY_PAGES)):
        env = new_env(stack.settings)
        try:
            figures = run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")), keys, per_key)
        finally:
            drop_env(env)
        print(f"  {label:<8} {figures['pages_per_s']:,.1f} pages/s ({figures['pages']:,} pages in "
              f"{figures['seconds']:.1f} s; PagerDuty {figures['pagerduty_per_s']:,.1f}/s, Slack "
              f"{figures['slack_per_s']:,.1f}/s; the notifier used {figures['cpu_share']:.0%} of a core)", flush=True)
