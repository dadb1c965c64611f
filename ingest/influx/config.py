"""Defaults of the Influx adapter (overridable through IngestSettings)."""

from __future__ import annotations

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
