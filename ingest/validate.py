"""Checks every sample passes whatever protocol it came in by; each failure names the field at fault."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from kernel.names import LABEL_NAME, LABEL_NAME_SYNTAX, METRIC_NAME, METRIC_NAME_SYNTAX
from schemas.records import Sample

_LABEL_NAMES = re.compile(rf"{LABEL_NAME_SYNTAX}(?:\n{LABEL_NAME_SYNTAX})*")  # names joined by \n
# Metric names that matched METRIC_NAME: every sample is checked, and a name recurs in every request.
VALID_NAMES_MAX = 100_000
VALID_NAMES: set[str] = set()  # read by the pipeline's inlined fast path; only check_sample adds to it


@dataclass(frozen=True, slots=True)
class Limits:
    """What a valid sample looks like; defaults follow Prometheus/VictoriaMetrics practice."""

    max_future_ms: int = 600_000
    max_past_ms: int = 7 * 86_400_000
    max_labels: int = 64
    max_name_len: int = 256
    max_label_name_len: int = 128
    max_label_value_len: int = 2048
    allow_infinite: bool = False


def check(sample: Sample, now_ms: int, limits: Limits) -> str | None:
    """None when the sample and its labels are valid; otherwise the reason, naming the field at fault."""
    return check_sample(sample, now_ms, limits) or check_labels(sample["labels"], limits)


def check_sample(sample: Sample, now_ms: int, limits: Limits) -> str | None:
    """Value, timestamp and name of one sample (labels apart: samples share label sets)."""
    value = sample["value"]
    if not math.isfinite(value) and not (limits.allow_infinite and not math.isnan(value)):
        return f"value of '{sample['name']}' is {value}: only finite values are accepted"
    ts = sample["timestamp_ms"]
    if ts > now_ms + limits.max_future_ms:
        return (f"timestamp {_iso(ts)} is {_span(ts - now_ms)} in the future "
                f"(limit {_span(limits.max_future_ms)})")
    if ts < now_ms - limits.max_past_ms:
        return f"timestamp {_iso(ts)} is {_span(now_ms - ts)} old (limit {_span(limits.max_past_ms)})"
    name = sample["name"]
    if len(name) > limits.max_name_len:
        return f"metric name '{name[:40]}…' is {len(name)} characters (limit {limits.max_name_len})"
    if name not in VALID_NAMES:
        if not METRIC_NAME.fullmatch(name):
            return f"metric name '{name[:80]}' is invalid: expected {METRIC_NAME_SYNTAX}"
        if len(VALID_NAMES) >= VALID_NAMES_MAX:
            VALID_NAMES.clear()
        VALID_NAMES.add(name)
    return None


def check_labels(labels: dict[str, str], limits: Limits) -> str | None:
    """None when every label name and value is valid; otherwise the reason."""
    if len(labels) > limits.max_labels:
        return f"too many labels: {len(labels)} (limit {limits.max_labels})"
    # Fast path, a few C calls for the whole set (most sets are valid); the loop below names the culprit.
    if (labels and _LABEL_NAMES.fullmatch("\n".join(labels))
            and max(map(len, labels)) <= limits.max_label_name_len
            and max(map(len, labels.values())) <= limits.max_label_value_len):
        return None
    for key, val in labels.items():
        if len(key) > limits.max_label_name_len:
            return f"label name '{key[:40]}…' is {len(key)} characters (limit {limits.max_label_name_len})"
        if not LABEL_NAME.fullmatch(key):
            return f"label name '{key[:80]}' is invalid: expected {LABEL_NAME_SYNTAX}"
        if len(val) > limits.max_label_value_len:
            return f"label '{key}' value is {len(val)} characters (limit {limits.max_label_value_len})"
    return None


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms"


def _span(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
