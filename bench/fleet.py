"""Prometheus remote-write bodies of a Kubernetes fleet, built once and sent unchanged to every side.

The shape is Prometheus' own (https://prometheus.io/docs/concepts/remote_write_spec/): a
snappy-compressed `prometheus.WriteRequest` of 500 series × 1 sample (queue_config's default
max_samples_per_send), 10 labels per series counting `__name__`. The series cycle through a fleet
of `series` distinct label sets; each pass over the fleet is one scrape 15 s after the previous
one, so every series' timestamps advance as they would from a real scraper.

Series n is metric `pb_metric_{n % 50}` of pod n // 50, in namespace `ns-{(n // 50) % 20}`: one
rule per (metric, namespace) selects a disjoint shard, so 1,000 rules cover every sample once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cramjam

from ingest.remote_write.prompb.remote_pb2 import WriteRequest

SERIES_PER_REQUEST = 500  # Prometheus' default queue_config.max_samples_per_send
METRICS = 50
NAMESPACES = 20
SCRAPE_INTERVAL_MS = 15_000
METRIC_PREFIX = "pb_metric_"  # every bench sample's name starts so: the stores are counted by it
PROBE_METRIC = "pb_probe"
WARMUP_METRIC = "pb_warmup"
HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def series_labels(n: int) -> list[tuple[str, str]]:
    """The 10 labels of series n, as a kube-prometheus scrape of a pod's container gives them."""
    pod = n // METRICS
    return [("__name__", f"{METRIC_PREFIX}{n % METRICS}"), ("job", "kubernetes-pods"),
            ("instance", f"10.{pod // 62500 % 256}.{pod // 250 % 250}.{pod % 250}:8080"),
            ("namespace", f"ns-{pod % NAMESPACES}"), ("pod", f"app-{pod % 97}-{pod:06x}"),
            ("container", ("app", "sidecar", "proxy")[pod % 3]), ("node", f"node-{pod % 40}"),
            ("cluster", "eu-1"), ("region", "eu-west"), ("env", "prod")]


def series_value(n: int) -> float:
    """The value series n always reports: a few series sit above the bench rules' threshold (995)."""
    return float(n % 1000) + 0.5


@dataclass(frozen=True)
class Fleet:
    """Bodies ready to post, and what they hold."""

    bodies: list[bytes]
    series: int
    samples: int
    first_ms: int  # the oldest timestamp in the bodies
    last_ms: int  # the newest


def build(samples: int, series: int) -> Fleet:
    """Bodies holding `samples` samples (rounded up to whole requests) over `series` series."""
    if series % SERIES_PER_REQUEST or series <= 0:
        raise ValueError(f"--series must be a positive multiple of {SERIES_PER_REQUEST}, not {series}")
    requests = -(-samples // SERIES_PER_REQUEST)
    slots = series // SERIES_PER_REQUEST
    scrapes = -(-requests // slots)
    # The last scrape a minute in the past: the stores take it as it comes, and the count query's window holds all.
    first_ms = (int(time.time() * 1000) - (scrapes * SCRAPE_INTERVAL_MS) - 60_000) // 1000 * 1000
    templates, offsets = [], []
    for slot in range(slots):
        request, slot_offsets = WriteRequest(), []
        for n in range(slot * SERIES_PER_REQUEST, (slot + 1) * SERIES_PER_REQUEST):
            ts = request.timeseries.add()
            for name, value in series_labels(n):
                ts.labels.add(name=name, value=value)
            ts.samples.add(value=series_value(n), timestamp=0)
            slot_offsets.append((n // METRICS) * 7 % SCRAPE_INTERVAL_MS)  # each pod scraped at its own offset
        templates.append(request)
        offsets.append(slot_offsets)
    bodies = []
    for index in range(requests):
        slot, scrape = index % slots, index // slots
        request, base = templates[slot], first_ms + scrape * SCRAPE_INTERVAL_MS
        for ts, offset in zip(request.timeseries, offsets[slot]):
            ts.samples[0].timestamp = base + offset
        bodies.append(bytes(cramjam.snappy.compress_raw(request.SerializeToString())))
    last_ms = first_ms + (scrapes - 1) * SCRAPE_INTERVAL_MS + SCRAPE_INTERVAL_MS
    return Fleet(bodies, series, requests * SERIES_PER_REQUEST, first_ms, last_ms)


def single(metric: str, labels: dict[str, str], value: float = 1.0, stamp_ms: int | None = None) -> bytes:
    """One sample of one series, stamped now: a probe or a warm-up write."""
    request = WriteRequest()
    ts = request.timeseries.add()
    for name, label_value in [("__name__", metric), *sorted(labels.items())]:
        ts.labels.add(name=name, value=label_value)
    ts.samples.add(value=value, timestamp=int(time.time() * 1000) if stamp_ms is None else stamp_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
