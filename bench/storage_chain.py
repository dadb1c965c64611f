"""One storage-chain measurement: bodies in over remote write, timed until the store holds every sample.

The same for any chain that takes remote write and ends in a VictoriaMetrics of its own: Vigil's
`ingest → Kafka → sinks → VictoriaMetrics` (optionally with `vigil streams` evaluating rules on the
way) and the anchor's `vmagent → VictoriaMetrics`. Only public interfaces are used: HTTP remote
write in; the store's /metrics (`vm_rows_added_to_storage_total`, polled cheaply while it runs) and
a count query (the exact check at the end) out; the streams worker's /metrics.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench import fleet as fleet_mod
from bench.process_cpu import tree_cpu, used
from bench.sender import SendStats, post, send_all, session
from bench.servers import Server, count_samples, rows_added

POLL_S = 0.25
STALL_S = 60.0  # no progress for this long after the last send: the chain lost something, stop waiting
VISIBLE_S = 30.0  # rows added but not yet counted by a query: VictoriaMetrics makes them searchable within seconds
_EVALUATED = re.compile(r'^vigil_streams_rule_samples_total\{outcome="[a-z_]+"\} ([0-9.e+]+)$', re.M)


def streams_evaluated(port: int) -> float:
    """Samples a `vigil streams` worker evaluated against a rule so far (every outcome), from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        return sum(float(v) for v in _EVALUATED.findall(resp.read().decode()))


@dataclass
class ChainFigures:
    """What one run measured."""

    side: str
    sent: int  # samples in bodies answered 2xx
    stored: int  # samples the exact count query found
    seconds: float  # first send → the store held every sample (and, with rules, the worker evaluated them)
    store_seconds: float  # first send → the store held every sample
    send_seconds: float  # first send → last 2xx
    cpu: dict[str, float]  # server process → CPU seconds over `seconds`
    stats: SendStats
    evaluated_seconds: float | None = None  # first send → the worker evaluated every sample
    lag_at_send_end: float | None = None  # samples sent but not yet evaluated when the last 2xx came
    max_lag: float | None = None
    timeline: list[tuple[float, int, float, float]] = field(default_factory=list)  # (t, sent, stored, evaluated)

    @property
    def samples_per_s(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu.values())

    @property
    def per_core_second(self) -> float:
        return self.sent / self.cpu_total if self.cpu_total else 0.0

    @property
    def exact(self) -> bool:
        return self.sent == self.stored and not self.stats.failures


async def warm_up(url: str, store: Server, evaluated: Callable[[], float] | None = None, timeout: float = 90) -> None:
    """One sample of a metric the bench never counts, through the whole chain: connections open, groups joined."""
    stats = SendStats()
    async with session(1) as http:
        if await post(http, url, fleet_mod.single(fleet_mod.WARMUP_METRIC, {"job": "warmup"}), stats, 1) is None:
            raise SystemExit(f"the warm-up write to {url} was refused: {stats.failures}")
    deadline = time.monotonic() + timeout
    while (await asyncio.to_thread(rows_added, store)) < 1 or (evaluated and await asyncio.to_thread(evaluated) < 1):
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm-up sample did not pass the chain behind {url} within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def measure(side: str, url: str, bodies: Sequence[bytes], clients: int, store: Server,
                  processes: Mapping[str, int], first_ms: int, evaluated: Callable[[], float] | None = None,
                  progress: Callable[[str], None] = print) -> ChainFigures:
    """Send every body as fast as accepted; poll until the store (and the worker) has every sample; count."""
    stats = SendStats()
    rows0 = await asyncio.to_thread(rows_added, store)
    evaluated0 = await asyncio.to_thread(evaluated) if evaluated else 0.0
    cpu0 = tree_cpu(processes)
    began = time.perf_counter()
    sending = asyncio.create_task(send_all(url, bodies, clients, stats))
    timeline: list[tuple[float, int, float, float]] = []
    store_at = evaluated_at = lag_at_send_end = None
    last_change, last_state, last_print = began, None, began
    cpu_end = None
    while True:
        await asyncio.sleep(POLL_S)
        if sending.done():
            sending.result()  # an exception of the senders ends the run here
        now = time.perf_counter()
        stored = await asyncio.to_thread(rows_added, store) - rows0
        done_evaluating = await asyncio.to_thread(evaluated) - evaluated0 if evaluated else 0.0
        timeline.append((now - began, stats.accepted_samples, stored, done_evaluating))
        if sending.done() and lag_at_send_end is None and evaluated:
            lag_at_send_end = stats.accepted_samples - done_evaluating
        if sending.done() and store_at is None and stored >= stats.accepted_samples:
            store_at = now
        if sending.done() and evaluated and evaluated_at is None and done_evaluating >= stats.accepted_samples:
            evaluated_at = now
        if store_at is not None and (evaluated is None or evaluated_at is not None):
            cpu_end = tree_cpu(processes)
            break
        if (stored, done_evaluating, stats.accepted_samples) != last_state:
            last_state, last_change = (stored, done_evaluating, stats.accepted_samples), now
        elif now - last_change > STALL_S:
            cpu_end = tree_cpu(processes)
            progress(f"  !! {side}: nothing moved for {STALL_S:.0f} s (stored {stored:,.0f}, "
                     f"evaluated {done_evaluating:,.0f} of {stats.accepted_samples:,} sent): giving up waiting")
            break
        if now - last_print >= 5:
            last_print = now
            extra = f", evaluated {done_evaluating:,.0f}" if evaluated else ""
            progress(f"  {side}: {now - began:5.1f} s  sent {stats.accepted_samples:,}  stored {stored:,.0f}{extra}  "
                     f"retries {stats.retries}")
    ended = time.perf_counter()
    stored_count = await _exact_count(store, stats.accepted_samples, first_ms)
    store_seconds = (store_at or ended) - began
    seconds = max(store_seconds, ((evaluated_at or ended) - began) if evaluated else 0.0)
    lags = [sent - done for _, sent, _, done in timeline] if evaluated else []
    return ChainFigures(side=side, sent=stats.accepted_samples, stored=stored_count, seconds=seconds,
                        store_seconds=store_seconds, send_seconds=(stats.last_accept or ended) - began,
                        cpu=used(cpu0, cpu_end), stats=stats,
                        evaluated_seconds=((evaluated_at or ended) - began) if evaluated else None,
                        lag_at_send_end=lag_at_send_end, max_lag=max(lags) if lags else None, timeline=timeline)


async def _exact_count(store: Server, expected: int, first_ms: int) -> int:
    """The count query's answer, asked again for a while when it is short (rows become searchable late)."""
    selector = f'{{__name__=~"{fleet_mod.METRIC_PREFIX}.+"}}'
    deadline = time.monotonic() + VISIBLE_S
    while True:
        counted = await asyncio.to_thread(count_samples, store, selector, first_ms)
        if counted >= expected or time.monotonic() > deadline:
            return counted
        await asyncio.sleep(1.0)
