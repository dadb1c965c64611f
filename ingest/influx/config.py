"""The Influx adapter's config (from IngestSettings) and the line protocol's constants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from kernel.settings import IngestSettings
from ingest.http_adapter import HttpLimits
from ingest.sources import Sources

DEFAULT_MAX_LINE_BYTES = 64 * 1024

# Factor from a timestamp in the request's precision to milliseconds (v2 names, then v1 names).
# https://docs.influxdata.com/influxdb/v2/api/#operation/PostWrite (ns|us|ms|s)
# https://docs.influxdata.com/influxdb/v1/tools/api/#write-http-endpoint (n|u|ms|s|m|h)
PRECISION_TO_MS: dict[str, tuple[int, int]] = {  # (multiply, divide)
    "ns": (1, 1_000_000), "n": (1, 1_000_000),
    "us": (1, 1_000), "u": (1, 1_000), "µ": (1, 1_000),
    "ms": (1, 1),
    "s": (1_000, 1),
    "m": (60_000, 1),
    "h": (3_600_000, 1),
}


@dataclass(frozen=True, slots=True)
class InfluxConfig(HttpLimits):
    """The body limits every HTTP protocol has, and a line's (VIGIL_MAX_LINE_BYTES: a longer line is refused)."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES

    @classmethod
    def from_settings(cls, settings: IngestSettings, sources: Sources) -> Self:
        """VIGIL_MAX_BODY_BYTES, VIGIL_INGEST_BODY_READ_TIMEOUT_S and VIGIL_MAX_LINE_BYTES."""
        return cls(max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.ingest_body_read_timeout_s,
                   max_line_bytes=settings.max_line_bytes)
