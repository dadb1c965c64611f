"""The StatsD adapter's config: where it listens, flush interval, percentiles and the limits that bound memory."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.settings import IngestSettings
from ingest.sources import Sources


@dataclass(frozen=True, slots=True)
class StatsdConfig:
    """Where StatsD listens and how its parser and aggregator behave; every limit has a safe default."""

    host: str = "127.0.0.1"
    port: int = 8125  # UDP and TCP (statsd's own default)
    # statsd's own default flushInterval is 10 s.
    # https://github.com/statsd/statsd/blob/master/exampleConfig.js
    flush_interval_s: float = 10.0
    # One `quantile`-labelled series per entry (Prometheus summary style).
    percentiles: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)
    # A single metric line can never legitimately be longer than one UDP datagram, so this is also
    # the per-line limit the parser applies to TCP chunks.
    max_datagram_bytes: int = 65_535
    # Tags per line; a line with more is refused (each tag becomes a label, and label sets are the
    # dominant cost per series downstream).
    max_tags: int = 64
    # Gauges are re-sent on every flush (statsd's deleteGauges=false default) but only for this many
    # flushes without an update; then they are dropped so dead hosts/containers don't live forever.
    # 0 means "send a gauge only in the intervals where it was updated" (statsd's deleteGauges=true).
    delete_idle_after_flushes: int = 5
    # Distinct series held between two flushes (gauges count until they are dropped). Metrics that
    # would create a series beyond this are dropped and counted in Aggregator.dropped.
    max_series: int = 100_000

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not self.flush_interval_s > 0:
            raise ValueError(f"flush_interval_s must be > 0, got {self.flush_interval_s}")
        bad = [p for p in self.percentiles if not 0 < p <= 100]
        if bad:
            raise ValueError(f"percentiles must be in (0, 100], got {bad}")
        for name in ("max_datagram_bytes", "max_tags", "max_series"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.delete_idle_after_flushes < 0:
            raise ValueError(f"delete_idle_after_flushes must be >= 0, got {self.delete_idle_after_flushes}")

    @classmethod
    def from_settings(cls, settings: IngestSettings, sources: Sources) -> StatsdConfig | None:
        """VIGIL_STATSD_*; None (no listener) when VIGIL_STATSD_PORT is 0."""
        if settings.statsd_port == 0:
            return None
        return cls(host=settings.statsd_host, port=settings.statsd_port,
                   flush_interval_s=settings.statsd_flush_interval_s, percentiles=settings.statsd_percentiles)


DEFAULT_CONFIG = StatsdConfig()
