"""The whole pipeline next to its anchors, in one run (issue 14): `python -m bench pipeline`.

Three parts, each on fresh processes, both sides fed the same pre-built remote-write bodies
(bench/fleet.py: Prometheus' shape, 500 series × 1 sample per request, 10 labels, 100,000 series):

1. storage: every body sent as fast as accepted, timed from the first send until the store holds
   every sample, CPU summed over every server process of the chain. Vigil: `vigil ingest` →
   Kafka (Tansu) → `vigil sinks` → VictoriaMetrics, with the stack's Postgres and Redis counted;
   anchor: vmagent → VictoriaMetrics. Sent (acknowledged) must equal stored, exactly.
2. rules: Vigil's storage run again with `vigil streams` holding 1,000 threshold rules; timed until
   the store holds and the worker evaluated every sample; the worker's lag is what it evaluated
   (its /metrics) against what was sent (Tansu's high watermark is wrong: docs/stack.md).
3. latency: background load offered at fixed rates, a probe alert a second, paged to a local
   webhook receiver: Vigil (ingest → streams → notifier) next to vmagent → VictoriaMetrics →
   vmalert (1 s evaluation) → Alertmanager (group_wait 0s).

    python -m bench.pipeline [--samples N] [--series N] [--rate R …] [--duration S] [--only storage|rules|latency]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import signal
import sys
import time
from dataclasses import dataclass, field

import yaml

from bench import alert_latency, fleet as fleet_mod, storage_chain
from bench.pipeline_report import latency_line, print_summary, storage_line
from bench.servers import Server, Servers, count_series, rows_added
from infra.sandbox import drop_env, free_port, new_env, start_stack
from infra.stack import Stack
from infra.stack.stack import remove_state

PARTS = ("storage", "rules", "latency")
SAMPLES, SERIES, RULES_SAMPLES = 3_000_000, 100_000, 1_000_000
RATES = (20_000.0, 50_000.0)
DURATION_S = 30.0
CLIENTS = 8  # concurrent keep-alive connections, as a Prometheus remote-write queue runs several shards
INGEST_PROCESSES = 2  # as `vigil up` runs ingest (infra/up.py)
RULES_THRESHOLD = 995  # a few series sit above it (bench/fleet.py: values 0.5–999.5), so a few alerts fire
VIGIL, ANCHOR = "Vigil", "vmagent → VictoriaMetrics"
ANCHOR_LATENCY = "vmagent → VM → vmalert → Alertmanager"


@dataclass(frozen=True)
class Options:
    """What to run and how big."""

    samples: int = SAMPLES
    series: int = SERIES
    rules_samples: int = RULES_SAMPLES
    rates: tuple[float, ...] = RATES
    duration_s: float = DURATION_S
    clients: int = CLIENTS
    ingest_processes: int = INGEST_PROCESSES
    parts: tuple[str, ...] = PARTS


@dataclass
class Results:
    """Every figure of a run, by part."""

    options: Options
    storage: list[storage_chain.ChainFigures] = field(default_factory=list)
    rules: storage_chain.ChainFigures | None = None
    latency: list[alert_latency.LatencyFigures] = field(default_factory=list)


def bench_rules() -> dict:
    """1,000 threshold rules, one per (metric, namespace) shard of the fleet, and one on the warm-up metric."""
    rules = [{"id": f"m{m}-ns{n}", "alert": f"PipelineBench{m}", "metric": f"{fleet_mod.METRIC_PREFIX}{m}",
              "matchers": [f'namespace=~"ns-{n}"'], "op": ">", "threshold": RULES_THRESHOLD, "for": "30s",
              "annotations": {"summary": "{{ $labels.pod }} at {{ $value }}"}}
             for m in range(fleet_mod.METRICS) for n in range(fleet_mod.NAMESPACES)]
    rules.append({"id": "warmup", "alert": "PipelineBenchWarmup", "metric": fleet_mod.WARMUP_METRIC, "op": ">",
                  "threshold": 1e12})
    return {"rules": rules}


def _stack_pids(stack: Stack) -> dict[str, int]:
    """The stack's servers on Vigil's storage path (not Mosquitto, nor the stack's own idle store)."""
    names = {"kafka": "tansu", "postgres": "postgres", "redis": "redis"}
    return {names[p.name]: p.pid for p in stack.started if p.name in names}


class PipelineRun:
    """One run's stack, servers and payload; each part starts its own processes and stops them after."""

    def __init__(self, stack: Stack, options: Options, fleet: fleet_mod.Fleet, servers: Servers) -> None:
        self.stack, self.options, self.fleet, self.servers = stack, options, fleet, servers
        self.results = Results(options)

    def _file(self, name: str, content: dict) -> str:
        path = self.servers.dir / name
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        return str(path)

    async def _vigil_chain(self, bodies: list[bytes], rules: dict | None) -> storage_chain.ChainFigures:
        env = new_env(self.stack.settings)
        store = self.servers.victoria_metrics()
        try:
            ports = {name: free_port() for name in ("ingest", "sinks", "streams")}
            extra = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]),
                     "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]), "VIGIL_TSDB_URL": store.url,
                     "VIGIL_DATA_DIR": str(self.servers.dir / f"faust-{env.prefix}"),
                     "VIGIL_INGEST_PROCESSES": str(self.options.ingest_processes)}
            commands = ["ingest", "sinks"]
            if rules is not None:
                extra["VIGIL_RULES_FILE"] = self._file(f"rules-{env.prefix}.yaml", rules)
                commands.append("streams")
            processes = {name: env.start(name, health_port=ports[name], extra_env=extra, name=name).pid
                         for name in commands}
            processes.update(_stack_pids(self.stack), **{"victoria-metrics": store.pid})
            url = f"http://127.0.0.1:{ports['ingest']}/api/v1/write"
            evaluated = functools.partial(storage_chain.streams_evaluated, ports["streams"]) if rules else None
            await storage_chain.warm_up(url, store, evaluated)
            return await storage_chain.measure(VIGIL, url, bodies, self.options.clients, store, processes,
                                               self.fleet.first_ms, evaluated)
        finally:
            drop_env(env)
            self.servers.stop_server(store)

    async def _anchor_chain(self, bodies: list[bytes]) -> storage_chain.ChainFigures:
        store = self.servers.victoria_metrics()
        agent = self.servers.vmagent(store)
        try:
            url = f"{agent.url}/api/v1/write"
            await storage_chain.warm_up(url, store)
            return await storage_chain.measure(ANCHOR, url, bodies, self.options.clients, store,
                                               {"vmagent": agent.pid, "victoria-metrics": store.pid},
                                               self.fleet.first_ms)
        finally:
            self.servers.stop_server(agent)
            self.servers.stop_server(store)

    async def storage(self) -> None:
        """Part 1: the same bodies through each chain, as fast as accepted."""
        print(f"\n[1/3 storage] {self.fleet.samples:,} samples, {self.fleet.series:,} series, "
              f"{fleet_mod.SERIES_PER_REQUEST} per request, {self.options.clients} clients; "
              f"{self.options.ingest_processes} ingest processes", flush=True)
        for run in (self._vigil_chain(self.fleet.bodies, None), self._anchor_chain(self.fleet.bodies)):
            figures = await run
            self.results.storage.append(figures)
            print(storage_line(figures), flush=True)

    async def rules(self) -> None:
        """Part 2: Vigil's storage chain with `vigil streams` evaluating 1,000 rules on the way."""
        bodies = self.fleet.bodies[:max(1, self.options.rules_samples // fleet_mod.SERIES_PER_REQUEST)]
        print(f"\n[2/3 rules] {len(bodies) * fleet_mod.SERIES_PER_REQUEST:,} samples with `vigil streams` and "
              f"1,000 threshold rules (each sample matches one)", flush=True)
        self.results.rules = await self._vigil_chain(bodies, bench_rules())
        print(storage_line(self.results.rules), flush=True)

    async def _latency_phases(self, side: str, url: str, store: Server, receiver: alert_latency.ProbeReceiver,
                              tag: str) -> None:
        await alert_latency.warm_up(url, receiver, tag)

        def visible(probe_regex: str, count: int) -> bool:
            return count_series(store, f'{fleet_mod.PROBE_METRIC}{{probe=~"{probe_regex}"}}') >= count

        for rate in self.options.rates:
            await _drain(store)
            await alert_latency.prepare(url, f"{tag}-{rate:.0f}", self.options.duration_s, visible)
            figures = await alert_latency.measure(side, url, self.fleet.bodies, rate, self.options.duration_s,
                                                  receiver, f"{tag}-{rate:.0f}")
            self.results.latency.append(figures)
            print(latency_line(figures), flush=True)

    async def latency(self) -> None:
        """Part 3: probe alerts under background load, each side with a webhook receiver of its own."""
        print(f"\n[3/3 latency] background load at {', '.join(f'{r:,.0f}' for r in self.options.rates)} samples/s "
              f"for {self.options.duration_s:.0f} s each, a probe alert a second", flush=True)
        with alert_latency.ProbeReceiver(free_port()) as receiver:
            env = new_env(self.stack.settings)
            store = self.servers.victoria_metrics()
            try:
                ports = {name: free_port() for name in ("ingest", "sinks", "streams", "notifier")}
                extra = {"VIGIL_INGEST_PORT": str(ports["ingest"]), "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]),
                         "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]),
                         "VIGIL_NOTIFIER_HEALTH_PORT": str(ports["notifier"]), "VIGIL_TSDB_URL": store.url,
                         "VIGIL_DATA_DIR": str(self.servers.dir / f"faust-{env.prefix}"),
                         "VIGIL_INGEST_PROCESSES": str(self.options.ingest_processes),
                         "VIGIL_RULES_FILE": self._file("latency-rules.yaml", alert_latency.VIGIL_RULES),
                         "VIGIL_ALERTING_CONFIG": self._file("latency-alerting.yaml",
                                                             alert_latency.vigil_alerting(receiver.webhook_url))}
                for name in ("ingest", "sinks", "streams", "notifier"):
                    env.start(name, health_port=ports[name], extra_env=extra, name=name)
                await self._latency_phases(VIGIL, f"http://127.0.0.1:{ports['ingest']}/api/v1/write", store,
                                           receiver, "vigil")
            finally:
                drop_env(env)
                self.servers.stop_server(store)
        with alert_latency.ProbeReceiver(free_port()) as receiver:
            store = self.servers.victoria_metrics()
            agent = self.servers.vmagent(store)
            manager = self.servers.alertmanager(receiver.webhook_url)
            evaluator = self.servers.vmalert(store, manager, alert_latency.VMALERT_RULES)
            try:
                await self._latency_phases(ANCHOR_LATENCY, f"{agent.url}/api/v1/write", store, receiver, "anchor")
            finally:
                for server in (evaluator, manager, agent, store):
                    self.servers.stop_server(server)


async def _drain(store: Server, timeout: float = 60.0) -> None:
    """Wait until the store stops growing: the previous phase's backlog is through before the next starts."""
    last, quiet_since, deadline = -1.0, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(rows_added, store)
        if rows != last:
            last, quiet_since = rows, time.monotonic()
        elif time.monotonic() - quiet_since >= 2.0:
            return
        await asyncio.sleep(0.5)
    print(f"  (the store was still growing after {timeout:.0f} s: the next phase starts on a backlog)", flush=True)


def run(stack: Stack, options: Options) -> Results:
    """Every part of `options` on `stack`; prints as it goes and a summary at the end."""
    started = time.perf_counter()
    print(f"pipeline: building {options.samples:,} samples of remote write over {options.series:,} series …",
          flush=True)
    fleet = fleet_mod.build(options.samples, options.series)
    servers = Servers()
    try:
        pipeline = PipelineRun(stack, options, fleet, servers)

        async def parts() -> None:
            for part in options.parts:
                await getattr(pipeline, part)()

        asyncio.run(parts())
    finally:
        servers.stop()
    print_summary(pipeline.results, time.perf_counter() - started)
    return pipeline.results


def bench(stack: Stack) -> None:
    """The end-to-end benchmark with its defaults, on the stack `python -m bench` started."""
    run(stack, Options())


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt  # a SIGTERM stops every process we started, as Ctrl-C does


def main(argv: list[str]) -> int:
    """`python -m bench.pipeline`: start a throwaway stack, run, stop everything and remove its dirs."""
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=SAMPLES, help="samples of the storage part (default 3M)")
    parser.add_argument("--series", type=int, default=SERIES, help="distinct series, a multiple of 500")
    parser.add_argument("--rules-samples", type=int, default=RULES_SAMPLES, help="samples of the rules part")
    parser.add_argument("--rate", type=float, action="append", help="background samples/s of the latency part "
                        "(repeat for several; default 20000 and 50000)")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="seconds of load per latency phase")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent senders of the storage parts")
    parser.add_argument("--ingest-processes", type=int, default=INGEST_PROCESSES,
                        help="VIGIL_INGEST_PROCESSES of Vigil's ingest (default 2, as `vigil up`)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    args = parser.parse_args(argv)
    options = Options(samples=args.samples, series=args.series, rules_samples=min(args.rules_samples, args.samples),
                      rates=tuple(args.rate or RATES), duration_s=args.duration, clients=args.clients,
                      ingest_processes=args.ingest_processes,
                      parts=tuple(p for p in PARTS if not args.only or p in args.only))
    signal.signal(signal.SIGTERM, _interrupted)
    print("starting a fresh embedded stack on free ports …", flush=True)
    stack = start_stack()
    try:
        results = run(stack, options)
    finally:
        stack.down(only_started=True)
        remove_state(stack.settings)  # and the Postgres data kept outside it, if any
    return 0 if all(f.exact for f in [*results.storage, *([results.rules] if results.rules else [])]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
