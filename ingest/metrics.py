"""Ingest's self-metrics (Prometheus names in one place; labels are bounded: protocol, kind, code)."""

import time
from collections.abc import Awaitable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.responses import Response

SAMPLES_ACCEPTED = Counter("vigil_ingest_samples_accepted_total", "Samples acknowledged by Kafka", ["protocol"])
LINES_REJECTED = Counter("vigil_ingest_rejected_total", "Lines/records refused", ["protocol", "kind"])
FIELDS_SKIPPED = Counter("vigil_ingest_fields_skipped_total", "Non-numeric fields not turned into samples",
                         ["protocol"])
SAMPLES_SKIPPED = Counter("vigil_ingest_samples_skipped_total",
                          "Samples dropped on purpose, not refused (staleness markers, NaN)", ["protocol", "reason"])
SAMPLES_DROPPED = Counter("vigil_ingest_samples_dropped_total",
                          "Samples lost where no sender could be told (StatsD over UDP): Kafka down, series limit",
                          ["protocol", "reason"])
STATSD_BYTES = Counter("vigil_ingest_statsd_bytes_total", "StatsD bytes received (UDP datagrams and TCP)")
STATSD_METRICS = Counter("vigil_ingest_statsd_metrics_total", "StatsD metric values parsed and aggregated")
UNAUTHORIZED = Counter("vigil_ingest_unauthorized_total", "HTTP writes refused for a missing or unknown token")
HEADER_TIMEOUTS = Counter("vigil_ingest_header_timeouts_total",
                          "Connections closed with 408 because a request's headers did not arrive in time")
CARDINALITY_UNCHECKED = Counter("vigil_ingest_cardinality_unchecked_total",
                                "New series admitted without a limit check because Redis was unreachable")
ENRICHMENT_SKIPPED = Counter("vigil_ingest_enrichment_skipped_total", "Samples published without device-registry "
                             "labels because the registry (Redis, then Postgres) did not answer in time, by "
                             "reason: timeout, error", ["reason"])
ENRICHMENT_STALE = Counter("vigil_ingest_enrichment_stale_total", "Samples enriched with the last labels read of "
                           "their device, past the cache TTL, because the registry did not answer in time")
REQUESTS = Histogram("vigil_ingest_request_seconds", "Request latency until the answer", ["protocol", "code"],
                     buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SHED = Counter("vigil_ingest_shed_total", "Writes answered 503 before their body was read (ingest saturated), "
               "by reason: in_flight, evaluation_lag", ["protocol", "reason"])
EVALUATION_LAG = Gauge("vigil_ingest_evaluation_lag_seconds", "Seconds of this process's accepted data the streams "
                       "worker has not yet evaluated (-1: no streams worker, the signal is off)",
                       multiprocess_mode="livemax")
PUBLISH_FAILURES = Counter("vigil_ingest_publish_failures_total", "Requests answered 429/503", ["protocol", "reason"])


async def timed(protocol: str, answer: Awaitable[Response]) -> Response:
    """Await a request handler's answer, recording its latency by protocol and status code."""
    started = time.monotonic()
    response = await answer
    REQUESTS.labels(protocol, str(response.status_code)).observe(time.monotonic() - started)
    return response


class _Caches:
    """`vigil_ingest_cache_*{cache}` of the in-process caches handed to `watch_cache`, read when scraped.

    Read at scrape time rather than set on every lookup: the caches sit on the hot path. The cache
    names are a fixed set chosen in code (a bounded label). Under PROMETHEUS_MULTIPROC_DIR (several
    ingest processes) only the scraped process's own caches are reported.
    """

    def __init__(self) -> None:
        self.caches: dict[str, object] = {}

    def describe(self):
        return self._families()

    def collect(self):
        families = self._families()
        for name, cache in list(self.caches.items()):
            values = (cache.bytes, len(cache), cache.evictions, cache.hits, cache.misses)
            for family, value in zip(families, values):
                family.add_metric([name], value)
        return families

    @staticmethod
    def _families() -> list:
        return [GaugeMetricFamily("vigil_ingest_cache_bytes", "Bytes held by an in-process cache (estimated; "
                                  "each cache is bounded in bytes)", labels=["cache"]),
                GaugeMetricFamily("vigil_ingest_cache_entries", "Entries held by an in-process cache", labels=["cache"]),
                CounterMetricFamily("vigil_ingest_cache_evictions", "Entries an in-process cache dropped to stay "
                                    "within its byte budget", labels=["cache"]),
                CounterMetricFamily("vigil_ingest_cache_hits", "Lookups answered by an in-process cache",
                                    labels=["cache"]),
                CounterMetricFamily("vigil_ingest_cache_misses", "Lookups an in-process cache could not answer",
                                    labels=["cache"])]


CACHES = _Caches()
REGISTRY.register(CACHES)


def watch_cache(name: str, cache):
    """Export `cache` (a kernel.bounded_cache.BoundedCache) as `vigil_ingest_cache_*{cache=name}`; returns it."""
    CACHES.caches[name] = cache
    return cache
