"""`make bench`: ingest throughput into Kafka and page latency, each on its own slice of a fresh stack.

``python -m bench`` runs both; ``python -m bench ingest`` or ``python -m bench page`` runs one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench import ingest_throughput, page_latency
from infra.stack import Stack
from tests.harness import drop_env, new_env, start_test_stack


def ingest(stack: Stack) -> None:
    """Samples/s from the line protocol endpoint into Kafka, one ingest process."""
    env = new_env(stack.settings)
    try:
        print(f"ingest throughput: {ingest_throughput.BODIES} bodies × {ingest_throughput.LINES_PER_BODY} lines × "
              f"{len(ingest_throughput.FIELDS)} fields, {ingest_throughput.CLIENTS} clients", flush=True)
        figures = ingest_throughput.run(env)
        print(f"  {figures['samples_per_s']:,.0f} samples/s into Kafka ({figures['lines_per_s']:,.0f} lines/s, "
              f"{figures['samples']:,} samples in {figures['seconds']:.2f} s; "
              f"{figures['counted_in_kafka']:,} counted back from the topic; "
              f"ingest process used {figures['ingest_cpu_share']:.0%} of a core)", flush=True)
    finally:
        drop_env(env)


def page(stack: Stack) -> None:
    """Latency from a sample accepted by ingest to its page at the webhook receiver."""
    env = new_env(stack.settings)
    try:
        print(f"page latency: {page_latency.PROBES} probes, sample accepted → page at the receiver", flush=True)
        figures = page_latency.run(env, Path(tempfile.mkdtemp(prefix="vigil-bench-")))
        print(f"  p50 {figures['p50_ms']:.0f} ms   p99 {figures['p99_ms']:.0f} ms   "
              f"max {figures['max_ms']:.0f} ms over {figures['probes']} probes", flush=True)
    finally:
        drop_env(env)


BENCHMARKS = {"ingest": ingest, "page": page}


def main(argv: list[str]) -> int:
    """Run the benchmarks named in argv, or all of them."""
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    print("starting a fresh embedded stack on free ports …", flush=True)
    stack = start_test_stack()
    try:
        for name in argv or BENCHMARKS:
            BENCHMARKS[name](stack)
    finally:
        stack.down(only_started=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
