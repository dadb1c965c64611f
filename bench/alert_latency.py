"""Alert latency under background load: a probe crossing a threshold once a second, paged to a webhook.

Background remote-write load is offered at a fixed rate; meanwhile one probe a second is written,
each a series of `pb_probe` with value 1 that no earlier probe used, so each probe is one new alert
of a `pb_probe > 0` rule with `for: 0s`. Its latency runs from the send of the probe's accepted
request (Vigil's ingest answers only after Kafka's ack, and a busy ingest answers late: timing from
the 2xx could even be negative) to the first webhook naming it at the receiver. Probes alternate between two kinds:

- "crossing": a series written with value 0 before the phase (and visible in the store), now
  crossing the threshold: how a real alert starts;
- "new series": a series never seen before. VictoriaMetrics 1.79 (Debian's) makes a new series
  searchable only ~9.5 s after it was written, so the anchor pays that here and not on crossings.

Both chains page in Alertmanager's webhook format to a local receiver (infra/demo/receiver.py):
Vigil through its webhook integration, the anchor through Alertmanager.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench import fleet as fleet_mod
from bench.sender import SendStats, post, send_at_rate, session
from infra.demo.receiver import Arrival, DemoReceiver

LOAD_BEFORE_PROBES_S = 3.0  # the background load reaches its pace before the first probe
PAGE_TIMEOUT_S = 60.0  # a probe whose page has not come this long after its 2xx never arrived
WARMUP_TIMEOUT_S = 90.0

VIGIL_RULES = {"rules": [{"id": "latency-probe", "alert": "LatencyProbe", "metric": fleet_mod.PROBE_METRIC,
                          "op": ">", "threshold": 0, "for": "0s"}]}
VMALERT_RULES = {"groups": [{"name": "latency-probe", "interval": "1s", "rules": [
    {"alert": "LatencyProbe", "expr": f"{fleet_mod.PROBE_METRIC} > 0", "for": "0s"}]}]}


def vigil_alerting(webhook_url: str) -> dict:
    """Vigil's alerting config doing what the anchor's Alertmanager does: each alert its own page, at once."""
    return {"route": {"receiver": "bench", "group_by": ["..."], "group_wait": "0s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "bench", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}]}


class ProbeReceiver:
    """A local Alertmanager-webhook receiver noting when each probe was first paged."""

    def __init__(self, port: int) -> None:
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        self.receiver = DemoReceiver(port, on_arrival=self._on_arrival)

    @property
    def webhook_url(self) -> str:
        return self.receiver.webhook_url

    def _on_arrival(self, arrival: Arrival) -> None:
        at = time.perf_counter()
        with self._lock:
            for alert in arrival.body.get("alerts", []):
                probe = alert.get("labels", {}).get("probe")
                if probe:
                    self.arrived.setdefault(probe, at)

    def __enter__(self) -> ProbeReceiver:
        self.receiver.start()
        return self

    def __exit__(self, *exc) -> None:
        self.receiver.stop()


KINDS = ("crossing", "new series")


def probe_name(tag: str, index: int) -> tuple[str, str]:
    """Probe `index` of a phase: its kind (they alternate) and its `probe` label value."""
    kind = KINDS[index % 2]
    return kind, f"{tag}-{'c' if kind == 'crossing' else 'n'}{index}"


@dataclass
class LatencyFigures:
    """One side at one offered rate."""

    side: str
    offered_per_s: float
    seconds: float
    load: SendStats
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    missing: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    probe_retries: int = 0

    @property
    def accepted_per_s(self) -> float:
        return self.load.accepted_samples / self.seconds

    def quantile_ms(self, kind: str, q: float) -> float | None:
        """The q-quantile (0.5: the median; 1: the maximum) of one kind's latencies."""
        ordered = sorted(self.latencies_ms[kind])
        if not ordered:
            return None
        return statistics.median(ordered) if q == 0.5 else ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _post_probe(http, url: str, probe: str, value: float, stats: SendStats) -> float | None:
    return await post(http, url, fleet_mod.single(fleet_mod.PROBE_METRIC, {"probe": probe, "job": "probe"}, value),
                      stats, 1)


async def warm_up(url: str, receiver: ProbeReceiver, tag: str) -> None:
    """One probe through the whole chain before timing anything: groups joined, rules loaded."""
    probe = f"{tag}-warmup"
    stats = SendStats()
    async with session(1) as http:
        if await _post_probe(http, url, probe, 1.0, stats) is None:
            raise SystemExit(f"the warm-up probe to {url} was refused: {stats.failures}")
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    while probe not in receiver.arrived:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm-up probe {probe} was not paged within {WARMUP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.1)


async def prepare(url: str, tag: str, seconds: float, visible: Callable[[str, int], bool]) -> None:
    """Write the phase's crossing probes at 0 (below the threshold) and wait until the store shows them."""
    names = [probe_name(tag, i)[1] for i in range(int(seconds) + 2) if probe_name(tag, i)[0] == "crossing"]
    stats = SendStats()
    async with session(1) as http:
        for name in names:
            if await _post_probe(http, url, name, 0.0, stats) is None:
                raise SystemExit(f"writing probe {name} at 0 was refused: {stats.failures}")
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    while not await asyncio.to_thread(visible, f"{tag}-c.*", len(names)):
        if time.monotonic() > deadline:
            raise SystemExit(f"the store did not show the {len(names)} probe series of {tag} "
                             f"within {WARMUP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.5)


async def measure(side: str, url: str, bodies: Sequence[bytes], rate: float, seconds: float,
                  receiver: ProbeReceiver, tag: str) -> LatencyFigures:
    """Offer `rate` samples/s of background load for `seconds` while sending a probe every second."""
    load = SendStats()
    began = time.perf_counter()
    background = asyncio.create_task(send_at_rate(url, bodies, rate, seconds, load))
    await asyncio.sleep(LOAD_BEFORE_PROBES_S)
    sent: dict[str, tuple[str, float | None]] = {}
    probe_stats = SendStats()
    async with session(1) as http:
        index = 0
        while time.perf_counter() - began < seconds - 1:
            next_at = time.perf_counter() + 1.0
            kind, probe = probe_name(tag, index)
            sent[probe] = kind, await _post_probe(http, url, probe, 1.0, probe_stats)
            index += 1
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await background
    load_seconds = time.perf_counter() - began
    last_sent = max((t for _, t in sent.values() if t is not None), default=time.perf_counter())
    while any(p not in receiver.arrived for p, (_, t) in sent.items() if t is not None):
        if time.perf_counter() - last_sent > PAGE_TIMEOUT_S:
            break
        await asyncio.sleep(0.2)
    figures = LatencyFigures(side=side, offered_per_s=rate, seconds=load_seconds, load=load,
                             probe_retries=probe_stats.retries)
    for probe, (kind, at) in sent.items():
        if at is not None and probe in receiver.arrived:
            figures.latencies_ms[kind].append((receiver.arrived[probe] - at) * 1000)
        else:
            figures.missing[kind].append(probe)
    return figures
