"""Ingest's memory under hostile input (issue 15, "bounded memory"): `python -m bench.soak`.

One `vigil ingest` on a throwaway stack; its resident memory (VmRSS of /proc/PID/status) is read
at start and after each phase:

1. refused input, `--refused-mb` per protocol, each body answered 400 and every label distinct
   (random names and values longer than ingest's limits, so every one is new and refused):
   Influx line protocol, Prometheus remote write, OTLP/HTTP (points whose attributes are too
   long, then a resource that doesn't decode: the whole request is a 400), StatsD over UDP (lines
   whose tag values are too long; no answer to get, the figure is what ingest received);
2. `--series` distinct valid series via remote write (each label value `--series-label-chars`
   long: hostile, but every series is accepted into Kafka).

A process whose caches are bounded in bytes grows by their budgets, whatever it is sent; one
bounded by entry counts grows with what the sender chooses. Every phase stops after
`--max-seconds` even if it has not sent all it should (the figures then say how much it sent).

    python -m bench.soak [--refused-mb 1024] [--series 1000000] [--only influx,remote_write,otlp,statsd,series]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cramjam
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from infra.sandbox import drop_env, free_port, new_env, start_stack
from infra.stack.stack import remove_state
from ingest.remote_write.prompb.remote_pb2 import WriteRequest

REFUSED_PHASES = ("influx", "remote_write", "otlp", "statsd")
PHASES = (*REFUSED_PHASES, "series")
REFUSED_MB, SERIES, SERIES_LABEL_CHARS, SERIES_LABELS = 1024, 1_000_000, 200, 5
MAX_SECONDS = 600.0
CLIENTS = 4
BODY_BYTES = 512 * 1024  # refused bodies: well under the 16 MiB body limit, many requests
SERIES_PER_REQUEST = 500  # Prometheus' max_samples_per_send
LONG_VALUE = 2_100  # characters: past ingest's 2048-character limit on a label value
NAME_CHARS = 100  # random label names, under the 128-character limit: valid, and new every time
DATAGRAM_BYTES = 60_000
STATSD_FLUSH_WAIT_S = 11.0  # the aggregator flushes every 10 s (the default): what it held is then let go
SETTLE_S = 2.0
PROGRESS_EVERY_S = 5.0
RW_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}


def random_text(chars: int) -> str:
    """`chars` random hex characters: never the same twice, cheap to make."""
    return os.urandom((chars + 1) // 2).hex()[:chars]


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB, from /proc/PID/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def influx_body() -> bytes:
    """Line protocol whose every line has a new tag name and a too-long value: a 400."""
    lines, size = [], 0
    while size < BODY_BYTES:
        line = f"soak_refused,k{random_text(NAME_CHARS)}={random_text(LONG_VALUE)} value=1"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines).encode()


def _write_request(series: list[dict[str, str]], stamp_ms: int) -> bytes:
    request = WriteRequest()
    for labels in series:
        ts = request.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        ts.samples.add(value=1.0, timestamp=stamp_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def remote_write_body() -> bytes:
    """Series, each with a new label name and a too-long value: every series refused, a 400."""
    per_series = NAME_CHARS + LONG_VALUE + 30
    series = [{"__name__": "soak_refused", f"k{random_text(NAME_CHARS)}": random_text(LONG_VALUE)}
              for _ in range(max(1, BODY_BYTES // per_series))]
    return _write_request(series, int(time.time() * 1000))


# A ResourceMetrics (field 1) whose Resource (field 1) has one attribute (field 1) whose key (field 1)
# is not UTF-8: OTLP's decoder refuses it, and with it the whole request, once the points before it
# went through the attribute caches.
_BAD_RESOURCE = bytes([0x0A, 0x08, 0x0A, 0x06, 0x0A, 0x04, 0x0A, 0x02, 0xFF, 0xFE])


def otlp_body() -> bytes:
    """Gauge points with new, too-long attributes, then an undecodable resource: a 400."""
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    metric = scope.metrics.add(name="soak.refused", unit="1")
    now_ns = time.time_ns()
    for _ in range(max(1, BODY_BYTES // (NAME_CHARS + LONG_VALUE + 40))):
        point = metric.gauge.data_points.add(time_unix_nano=now_ns, as_double=1.0)
        point.attributes.append(KeyValue(key=f"k{random_text(NAME_CHARS)}",
                                         value=AnyValue(string_value=random_text(LONG_VALUE))))
    return request.SerializeToString() + _BAD_RESOURCE


def statsd_datagram() -> bytes:
    """DogStatsD lines with new names, tag names and too-long tag values (refused by ingest)."""
    lines, size = [], 0
    while True:
        line = f"soak.{random_text(40)}:1|c|#k{random_text(NAME_CHARS)}:{random_text(LONG_VALUE)}"
        if size + len(line) + 1 > DATAGRAM_BYTES:
            return "\n".join(lines).encode()
        lines.append(line)
        size += len(line) + 1


@dataclass
class Sent:
    """What one phase sent: bytes, requests by answer, how long it took."""

    bytes: int = 0
    items: int = 0
    answers: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    stopped_early: bool = False


class Soak:
    """The ingest process under test and the phases that feed it."""

    def __init__(self, env, port: int, pid: int, max_seconds: float) -> None:
        self.env, self.port, self.pid, self.max_seconds = env, port, pid, max_seconds

    def _progress(self, name: str, sent: Sent, started: float, goal: str) -> None:
        rss, _ = memory_kb(self.pid)
        print(f"    {name}: {sent.bytes / 2**20:,.0f} MB / {goal} sent in {time.monotonic() - started:.0f} s, "
              f"ingest RSS {rss / 1024:,.0f} MB", flush=True)

    def http(self, name: str, path: str, headers: dict[str, str], make: Callable[[], tuple[bytes, int] | None],
             done: Callable[[Sent], bool], goal: str, retry_statuses: frozenset[int] = frozenset()) -> Sent:
        """Post bodies from `make()` (body, items in it; None: no more) with CLIENTS threads until `done(sent)`,
        or the time bound."""
        sent, lock = Sent(), threading.Lock()
        started = time.monotonic()
        deadline = started + self.max_seconds
        url = f"http://127.0.0.1:{self.port}{path}"

        def client() -> None:
            with httpx.Client(timeout=120, headers=headers) as http:
                while True:
                    with lock:
                        if done(sent) or time.monotonic() > deadline:
                            return
                    made = make()
                    if made is None:
                        return
                    body, items = made
                    while True:
                        status = http.post(url, content=body).status_code
                        if status not in retry_statuses:
                            break
                        time.sleep(0.2)
                    with lock:
                        sent.bytes += len(body)
                        sent.items += items
                        sent.answers[status] += 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        next_report = started + PROGRESS_EVERY_S
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
            if time.monotonic() >= next_report:
                self._progress(name, sent, started, goal)
                next_report += PROGRESS_EVERY_S
        sent.seconds = time.monotonic() - started
        sent.stopped_early = not done(sent)
        return sent

    def refused_http(self, name: str, mb: float) -> Sent:
        limit = int(mb * 2**20)

        def done(sent: Sent) -> bool:
            return sent.bytes >= limit

        if name == "influx":
            return self.http(name, "/api/v2/write?precision=ms", {"Content-Type": "text/plain"},
                             lambda: (influx_body(), 0), done, f"{mb:,.0f} MB")
        if name == "remote_write":
            return self.http(name, "/api/v1/write", RW_HEADERS, lambda: (remote_write_body(), 0), done, f"{mb:,.0f} MB")
        return self.http(name, "/v1/metrics", {"Content-Type": "application/x-protobuf"},
                         lambda: (otlp_body(), 0), done, f"{mb:,.0f} MB")

    def refused_statsd(self, mb: float) -> Sent:
        """UDP datagrams, paced so the socket buffer rarely overflows; `bytes` is what ingest counted."""
        sent, limit = Sent(), int(mb * 2**20)
        target = ("127.0.0.1", int(self.env.env["VIGIL_STATSD_PORT"]))
        started = time.monotonic()
        next_report = started + PROGRESS_EVERY_S
        offered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            while offered < limit and time.monotonic() < started + self.max_seconds:
                datagram = statsd_datagram()
                udp.sendto(datagram, target)
                offered += len(datagram)
                time.sleep(0.002)
                if time.monotonic() >= next_report:
                    sent.bytes = int(self._metric("vigil_ingest_statsd_bytes_total"))
                    self._progress("statsd", sent, started, f"{mb:,.0f} MB")
                    next_report += PROGRESS_EVERY_S
        time.sleep(1.0)
        sent.bytes = int(self._metric("vigil_ingest_statsd_bytes_total"))
        sent.answers["offered MB"] = round(offered / 2**20)
        sent.seconds = time.monotonic() - started
        sent.stopped_early = offered < limit
        return sent

    def series(self, count: int, label_chars: int) -> Sent:
        """`count` distinct valid series via remote write, SERIES_PER_REQUEST per request; 429/503 are retried."""
        lock, serial = threading.Lock(), iter(range(count))

        def make() -> tuple[bytes, int] | None:
            with lock:
                numbers = list(itertools.islice(serial, SERIES_PER_REQUEST))
            if not numbers:
                return None
            series = [{"__name__": "soak_series", "n": str(n),
                       **{f"label_{i}": random_text(label_chars) for i in range(SERIES_LABELS)}} for n in numbers]
            return _write_request(series, int(time.time() * 1000)), len(series)

        return self.http("series", "/api/v1/write", RW_HEADERS, make, lambda sent: sent.items >= count,
                         f"{count:,} series", retry_statuses=frozenset({429, 503}))

    def _metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics/", timeout=10).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def run(options: argparse.Namespace) -> list[tuple[str, int]]:
    """Start a stack and one ingest, run the phases; returns (phase, RSS kB after it), start first."""
    stack = start_stack()
    try:
        env = new_env(stack.settings)
        try:
            port = free_port()
            ingest = env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port)})
            soak = Soak(env, port, ingest.popen.pid, options.max_seconds)
            time.sleep(SETTLE_S)
            rss, _ = memory_kb(soak.pid)
            figures = [("start", rss)]
            print(f"  start: ingest RSS {rss / 1024:,.0f} MB", flush=True)
            for phase in options.only:
                print(f"  {phase} …", flush=True)
                if phase == "series":
                    sent = soak.series(options.series, options.series_label_chars)
                elif phase == "statsd":
                    sent = soak.refused_statsd(options.refused_mb)
                    time.sleep(STATSD_FLUSH_WAIT_S)
                else:
                    sent = soak.refused_http(phase, options.refused_mb)
                time.sleep(SETTLE_S)
                rss, peak = memory_kb(soak.pid)
                growth = rss - figures[-1][1]
                figures.append((phase, rss))
                what = f"{sent.items:,} series, " if phase == "series" else ""
                print(f"  {phase}: {what}{sent.bytes / 2**20:,.0f} MB in {sent.seconds:.0f} s "
                      f"(answers {dict(sent.answers)}){' — stopped at the time bound' if sent.stopped_early else ''}; "
                      f"ingest RSS {rss / 1024:,.0f} MB ({growth / 1024:+,.0f} MB in this phase, "
                      f"{(rss - figures[0][1]) / 1024:+,.0f} MB since start; peak {peak / 1024:,.0f} MB)", flush=True)
            return figures
        finally:
            drop_env(env)
    finally:
        stack.down(only_started=True)
        remove_state(stack.settings)


def main(argv: list[str] | None = None) -> None:
    """Parse the flags, run, print the summary."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--refused-mb", type=float, default=REFUSED_MB, help="refused input per protocol, MB")
    parser.add_argument("--series", type=int, default=SERIES, help="distinct valid series via remote write")
    parser.add_argument("--series-label-chars", type=int, default=SERIES_LABEL_CHARS,
                        help=f"length of each of the {SERIES_LABELS} random label values of a series")
    parser.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="time bound of each phase")
    parser.add_argument("--only", default=",".join(PHASES), help=f"phases to run, in order: {','.join(PHASES)}")
    options = parser.parse_args(argv)
    options.only = [p.strip() for p in options.only.split(",") if p.strip()]
    unknown = set(options.only) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s) {sorted(unknown)}; choose from {', '.join(PHASES)}")
    print(f"soak: one ingest process; {options.refused_mb:,.0f} MB refused per protocol, {options.series:,} series "
          f"({SERIES_LABELS} labels of {options.series_label_chars} characters); at most {options.max_seconds:.0f} s "
          "per phase", flush=True)
    print("starting a fresh embedded stack on free ports …", flush=True)
    figures = run(options)
    start = figures[0][1]
    print(f"ingest RSS: start {start / 1024:,.0f} MB; " + "; ".join(
        f"after {phase} {rss / 1024:,.0f} MB ({(rss - start) / 1024:+,.0f})" for phase, rss in figures[1:]), flush=True)


if __name__ == "__main__":
    main()
