"""The remote write adapter's config (1.0 and 2.0) and constants: the spec's headers and the staleness marker."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ingest.http_adapter import HttpLimits

# https://prometheus.io/docs/specs/remote_write_spec/#protocol
CONTENT_TYPE = "application/x-protobuf"
PROTO_V1 = "prometheus.WriteRequest"
PROTO_V2 = "io.prometheus.write.v2.Request"
VERSION_HEADER = "X-Prometheus-Remote-Write-Version"

# Prometheus marks a series that disappeared with this NaN bit pattern (value/value.go,
# StaleNaN). It must never become a stored sample or feed a rule.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN_BYTES = struct.pack("<Q", STALE_NAN_BITS)

# Remote write 2.0 answers say how much was written:
# https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/#required-written-response-headers
SAMPLES_WRITTEN = "X-Prometheus-Remote-Write-Samples-Written"
HISTOGRAMS_WRITTEN = "X-Prometheus-Remote-Write-Histograms-Written"
EXEMPLARS_WRITTEN = "X-Prometheus-Remote-Write-Exemplars-Written"


@dataclass(frozen=True, slots=True)
class RemoteWriteConfig(HttpLimits):
    """Remote write's config: the body limits every HTTP protocol has (no knob of its own)."""
