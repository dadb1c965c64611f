"""The OTLP adapter's config and constants: content types and the UCUM → Prometheus unit words.

https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/#metric-metadata-1
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.http_adapter import HttpLimits

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# UCUM units OTel SDKs use → the word Prometheus appends to the metric name.
UNIT_WORDS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "%": "percent",
}
PER_UNIT_WORDS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

# Resource attributes that become the `job` and `instance` labels; the rest go to `target_info`.
SERVICE_NAME = "service.name"
SERVICE_NAMESPACE = "service.namespace"
SERVICE_INSTANCE = "service.instance.id"
TARGET_INFO = "target_info"


@dataclass(frozen=True, slots=True)
class OtlpConfig(HttpLimits):
    """OTLP/HTTP's config: the body limits every HTTP protocol has (no knob of its own)."""
