"""`make bench`: ingest throughput per protocol and page latency, each on its own slice of a fresh stack.

``python -m bench`` runs them all; ``python -m bench NAME …`` runs some: ingest (Influx line
protocol), remote_write, remote_write_v2, otlp, statsd, mqtt, modbus, page, rules (evaluation with 1,000 rules),
notifications (pages/s through the notifier), incidents (alert transitions/s through grouping and escalation),
api (alerts list and query_range latency under 100 clients; `python -m bench.api --quick` for a smoke run),
pipeline (the whole chain next to vmagent/vmalert/Alertmanager end to end; `python -m bench.pipeline --help`),
query_rules (1,000 query-evaluated rules over 100k series next to vmalert; `python -m bench.query_rules --help`).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from collections.abc import Callable
import tempfile
from pathlib import Path

from bench import api as api_bench
from bench import incidents as incidents_bench
from bench import http_load, ingest_throughput, otlp, page_latency, pipeline, query_rules, remote_write, rules_eval
from bench import modbus as modbus_bench
from bench import mqtt as mqtt_bench
from bench import notifications as notifications_bench
from bench import statsd as statsd_bench
from infra.stack import Stack
from infra.stack.stack import remove_state
from infra.sandbox import drop_env, new_env, start_stack


def _http_protocol(module, load=None, name=None) -> Callable[[Stack], None]:
    """A benchmark posting `load()` (default `module.load()`) to one ingest process and printing samples/s into Kafka."""

    def bench(stack: Stack) -> None:
        with _slice(stack) as env:
            print(f"{name or module.__name__.removeprefix('bench.')}: {module.SHAPE}, {http_load.CLIENTS} clients",
                  flush=True)
            figures = http_load.run(env, (load or module.load)())
            print(f"  {figures['samples_per_s']:,.0f} samples/s into Kafka ({figures['bodies_per_s']:,.0f} requests/s, "
                  f"{figures['samples']:,} samples in {figures['seconds']:.2f} s; "
                  f"{figures['counted_in_kafka']:,} counted back from the topic; "
                  f"ingest process used {figures['ingest_cpu_share']:.0%} of a core)", flush=True)
    bench.__doc__ = module.__doc__
    return bench


@contextmanager
def _slice(stack: Stack):
    """This benchmark's own topic prefix and database on the shared fresh stack."""
    env = new_env(stack.settings)
    try:
        yield env
    finally:
        drop_env(env)


def statsd(stack: Stack) -> None:
    """StatsD lines/s parsed and aggregated by one ingest process over UDP."""
    with _slice(stack) as env:
        print(f"statsd: {statsd_bench.SHAPE}", flush=True)
        for figures in statsd_bench.run(env):
            print(f"  offered {figures['offered_per_s']:,.0f} lines/s: {figures['lines_per_s']:,.0f} lines/s parsed "
                  f"and aggregated, {figures['dropped_share']:.1%} dropped by the kernel "
                  f"(ingest process at {figures['ingest_cpu_share']:.0%} of a core)", flush=True)


def mqtt(stack: Stack) -> None:
    """MQTT connector messages/s into Kafka."""
    with _slice(stack) as env:
        print(f"mqtt: {mqtt_bench.SHAPE}", flush=True)
        figures = mqtt_bench.run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")))
        print(f"  {figures['messages_per_s']:,.0f} messages/s ({figures['samples_per_s']:,.0f} samples/s) into Kafka "
              f"in {figures['seconds']:.2f} s; connectors process used {figures['cpu_share']:.0%} of a core",
              flush=True)


def modbus(stack: Stack) -> None:
    """Modbus connector registers/s into Kafka."""
    with _slice(stack) as env:
        print(f"modbus: {modbus_bench.SHAPE}", flush=True)
        figures = modbus_bench.run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")))
        print(f"  {figures['registers_per_s']:,.0f} registers/s into Kafka (offered "
              f"{figures['offered_per_s']:,.0f}/s); connectors process used "
              f"{figures['cpu_share']:.0%} of a core", flush=True)


def page(stack: Stack) -> None:
    """Latency from a sample accepted by ingest to its page at the webhook receiver."""
    with _slice(stack) as env:
        print(f"page latency: {page_latency.PROBES} probes, sample accepted → page at the receiver", flush=True)
        figures = page_latency.run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")))
        print(f"  p50 {figures['p50_ms']:.0f} ms   p99 {figures['p99_ms']:.0f} ms   "
              f"max {figures['max_ms']:.0f} ms over {figures['probes']} probes", flush=True)


def incidents(stack: Stack) -> None:
    """Alert transitions/s through grouping, dedup and escalation: in one engine, and on one worker."""
    print(f"incidents: {incidents_bench.SHAPE}", flush=True)
    figures = incidents_bench.engine_run()
    print(f"  engine  {figures['per_s']:,.0f} transitions/s ({figures['transitions']:,} in {figures['seconds']:.2f} s; "
          f"{figures['pages']:,} pages, {figures['incident_events']:,} incident transitions)", flush=True)
    with _slice(stack) as env:
        figures = incidents_bench.worker_run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")))
        print(f"  worker  {figures['per_s']:,.0f} transitions/s ({figures['transitions']:,.0f} in "
              f"{figures['seconds']:.2f} s from the routed topic; the worker used {figures['cpu_share']:.0%} of a core)",
              flush=True)


def rules(stack: Stack) -> None:
    """Samples/s through evaluation on one streams worker with 1,000 rules."""
    print(f"rules: {rules_eval.SHAPE}, one worker", flush=True)
    for mix in rules_eval.MIXES:
        with _slice(stack) as env:
            figures = rules_eval.run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")), mix)
            print(f"  {mix:<9} {figures['samples_per_s']:,.0f} samples/s evaluated ({figures['samples']:,} in "
                  f"{figures['seconds']:.2f} s; the worker used {figures['cpu_share']:.0%} of a core)", flush=True)


BENCHMARKS = {"ingest": _http_protocol(ingest_throughput), "remote_write": _http_protocol(remote_write),
              "remote_write_v2": _http_protocol(remote_write, remote_write.load_v2, "remote_write_v2"),
              "otlp": _http_protocol(otlp), "statsd": statsd, "mqtt": mqtt, "modbus": modbus,
              "notifications": notifications_bench.bench, "incidents": incidents,
              "page": page, "rules": rules, "api": api_bench.bench, "pipeline": pipeline.bench,
              "query_rules": query_rules.bench}


def main(argv: list[str]) -> int:
    """Run the benchmarks named in argv, or all of them."""
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    print("starting a fresh embedded stack on free ports …", flush=True)
    stack = start_stack()
    try:
        for name in argv or BENCHMARKS:
            BENCHMARKS[name](stack)
    finally:
        stack.down(only_started=True)
        remove_state(stack.settings)  # and the Postgres data kept outside it, if any
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
