"""Prometheus remote write at Prometheus' real shape: 500 samples per request, one per series, ~10 labels.

`load()` sends 1.0 (prometheus.WriteRequest), `load_v2()` the same series as 2.0 (io.prometheus.write.v2.Request).
"""

from __future__ import annotations

import time

import cramjam

from bench.http_load import Load
from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from ingest.remote_write.prompb.write_v2_pb2 import Request

SERIES_PER_REQUEST = 500  # Prometheus' default queue_config.max_samples_per_send
REQUESTS = 200
SERIES = 20_000
SHAPE = (f"{REQUESTS} requests × {SERIES_PER_REQUEST} series × 1 sample, 10 labels each, {SERIES} series "
         "(steady state: every series sent once before timing, as after Prometheus' first scrapes)")
HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
HEADERS_V2 = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}


def _request(series: list[tuple[dict[str, str], float, int]]) -> bytes:
    req = WriteRequest()
    for labels, value, stamp in series:
        ts = req.timeseries.add()
        for name, label_value in labels.items():
            ts.labels.add(name=name, value=label_value)
        ts.samples.add(value=value, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def _request_v2(series: list[tuple[dict[str, str], float, int]]) -> bytes:
    req = Request(symbols=[""])
    refs: dict[str, int] = {"": 0}
    for labels, value, stamp in series:
        ts = req.timeseries.add()
        for text in (part for name in sorted(labels) for part in (name, labels[name])):
            if text not in refs:
                refs[text] = len(req.symbols)
                req.symbols.append(text)
            ts.labels_refs.append(refs[text])
        ts.samples.add(value=value, timestamp=stamp)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def load(encode=_request, headers=HEADERS) -> Load:
    """Series of a node-exporter-like fleet, sent the way Prometheus' queue manager shards them."""
    now_ms = int(time.time() * 1000) - 600_000
    def bodies(requests: int, stamp: int) -> list[bytes]:
        out = []
        for r in range(requests):
            batch = []
            for i in range(SERIES_PER_REQUEST):
                n = (r * SERIES_PER_REQUEST + i) % SERIES
                labels = {"__name__": f"node_metric_{n % 50}", "job": "node", "instance": f"host-{n // 50}:9100",
                          "cluster": "eu-1", "env": "prod", "region": "eu-west", "team": f"team-{n % 7}",
                          "rack": f"r{n % 40}", "cpu": str(n % 16), "mode": ("user", "system", "idle")[n % 3]}
                batch.append((labels, float(n % 1000) + 0.5, stamp + r))
            out.append(encode(batch))
        return out
    warmup = SERIES // SERIES_PER_REQUEST
    return Load("/api/v1/write", bodies(REQUESTS, now_ms), headers, REQUESTS * SERIES_PER_REQUEST,
                bodies(warmup, now_ms - 15_000), warmup * SERIES_PER_REQUEST)


def load_v2() -> Load:
    """The same series and shape as `load`, as remote write 2.0 requests."""
    return load(_request_v2, HEADERS_V2)
