"""Values the engine reads and returns: series, samples, scalars, strings, and the staleness marker.

Prometheus' value model: https://prometheus.io/docs/prometheus/latest/querying/basics/#expression-language-data-types
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import PromQLError

# Prometheus marks a series as gone with this exact NaN bit pattern (pkg/value/value.go, StaleNaN).
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
_STALE_BYTES = struct.pack("<d", STALE_NAN)

METRIC_NAME = "__name__"

LabelsKey = tuple[tuple[str, str], ...]


def is_stale(value: float) -> bool:
    """Tell whether `value` is Prometheus' staleness marker (not any NaN)."""
    return value != value and struct.pack("<d", value) == _STALE_BYTES


@dataclass(slots=True)
class Series:
    """Raw stored data of one series (or one series of a range result): labels and parallel lists."""

    labels: dict[str, str]
    timestamps: list[int]
    values: list[float]


@dataclass(slots=True)
class Sample:
    """One element of an instant vector."""

    labels: dict[str, str]
    value: float
    timestamp_ms: int


@dataclass(slots=True)
class Scalar:
    """A single float not tied to a series."""

    value: float
    timestamp_ms: int


@dataclass(slots=True)
class String:
    """A string literal's value."""

    value: str
    timestamp_ms: int


Vector = list[Sample]
Matrix = list[Series]
Value = Vector | Scalar | Matrix | String


def labels_key(labels: dict[str, str]) -> LabelsKey:
    """Return a hashable identity of a label set (order-independent)."""
    return tuple(sorted(labels.items()))


def without_name(labels: dict[str, str]) -> dict[str, str]:
    """Return the labels without the metric name (the same dict when there is none to drop)."""
    if METRIC_NAME not in labels:
        return labels
    out = labels.copy()  # a C-level copy and one delete: faster than a comprehension over every label
    del out[METRIC_NAME]
    return out


def format_labels(labels: dict[str, str]) -> str:
    """Render labels the way Prometheus prints them in error messages: {a="b", c="d"}."""
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def same_labelset_check(vector: Vector) -> None:
    """Raise Prometheus' error when two samples of one step carry the same labels."""
    if len(vector) < 2:
        return
    seen = set()
    for sample in vector:
        key = labels_key(sample.labels)
        if key in seen:
            raise PromQLError("vector cannot contain metrics with the same labelset")
        seen.add(key)
