"""OTel names, units and attributes → Prometheus names and labels, per the compatibility spec.

https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/#otlp-metric-points-to-prometheus
- metric names: characters outside [a-zA-Z0-9_:] become `_`; the unit's word is appended
  (`http.server.duration` in `s` → `http_server_duration_seconds`); monotonic sums end in `_total`;
  a gauge in unit `1` ends in `_ratio`;
- attribute keys: characters outside [a-zA-Z0-9_] become `_` (`http.method` → `http_method`);
  non-string values are written as JSON (`true`, `3`, `["a","b"]`);
- resource: `service.namespace`/`service.name` → `job`, `service.instance.id` → `instance`;
  every other resource attribute is a label of the `target_info` series, not of every series;
- scope: `otel_scope_name` and `otel_scope_version` labels.
"""

from __future__ import annotations

import functools
import itertools
import json
import re

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from ingest import metrics
from ingest.label_sets import SharedLabels
from ingest.otlp.config import (PER_UNIT_WORDS, SERVICE_INSTANCE, SERVICE_NAME, SERVICE_NAMESPACE, UNIT_WORDS)
from ingest.validate import Limits, check_labels
from kernel.bounded_cache import BoundedCache
from kernel.names import NOT_LABEL_NAME_CHAR, NOT_METRIC_NAME_CHAR

_UNDERSCORES = re.compile(r"__+")
# The name caches below are keyed by the sender's strings: only short ones are cached, so each holds
# at most maxsize × (key + result + ~250 bytes of entry) — ~13 MB for names, ~1 MB for units.
_CACHED_NAME_CHARS = 256
_CACHED_UNIT_CHARS = 64
_NAMES_MAXSIZE = 16_384
# Attribute sets by their wire bytes: the whole budget of AttributeSets, shared by its three memos.
ATTRIBUTE_SETS_MAX_BYTES = 512 * 1024 * 1024  # ~100k attribute sets kept whole (see remote_write/parse.py)
_LIMITS = Limits()  # label sets refused under the default limits (too long, too many) are not cached


def unit_suffix(unit: str) -> str:
    """`s` → `seconds`, `By/s` → `bytes_per_second`, `{requests}` → ``; unknown units as they are."""
    return _unit_suffix(unit) if len(unit) <= _CACHED_UNIT_CHARS else _unit_suffix.__wrapped__(unit)


@functools.lru_cache(maxsize=4_096)
def _unit_suffix(unit: str) -> str:
    """`s` → `seconds`, `By/s` → `bytes_per_second`, `{requests}` → ``; unknown units as they are."""
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()
    if not unit or unit == "1":
        return ""
    main, _, per = unit.partition("/")
    words = [UNIT_WORDS.get(main, main)] if main else []
    if per:
        words.append(f"per_{PER_UNIT_WORDS.get(per, UNIT_WORDS.get(per, per))}")
    return _UNDERSCORES.sub("_", NOT_LABEL_NAME_CHAR.sub("_", "_".join(words))).strip("_")


def metric_name(name: str, unit: str, counter: bool, gauge: bool) -> str:
    """The Prometheus name of an OTel metric, with unit word and `_total` as the spec adds them."""
    if len(name) + len(unit) <= _CACHED_NAME_CHARS:
        return _metric_name(name, unit, counter, gauge)
    return _metric_name.__wrapped__(name, unit, counter, gauge)


@functools.lru_cache(maxsize=_NAMES_MAXSIZE)
def _metric_name(name: str, unit: str, counter: bool, gauge: bool) -> str:
    out = _UNDERSCORES.sub("_", NOT_METRIC_NAME_CHAR.sub("_", name)).strip("_") or "_"
    if out[0].isdigit():
        out = "_" + out
    suffix = unit_suffix(unit)
    if suffix and not out.endswith(suffix):
        out = f"{out}_{suffix}"
    if gauge and unit == "1" and not out.endswith("_ratio"):
        out += "_ratio"
    if counter:
        out = out.removesuffix("_total") + "_total"
    return out


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name."""
    return _label_name(key) if len(key) <= _CACHED_NAME_CHARS else _label_name.__wrapped__(key)


@functools.lru_cache(maxsize=_NAMES_MAXSIZE)
def _label_name(key: str) -> str:
    out = NOT_LABEL_NAME_CHAR.sub("_", key)
    if not out:
        return "_"
    return "key_" + out if out[0].isdigit() else out


def any_value(value) -> str:
    """An OTLP AnyValue as a label value: strings as they are, everything else as JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind is None:
        return ""
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)


def _plain(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def key_values(raw: tuple[bytes, ...]) -> list[KeyValue]:
    """Serialized KeyValue messages → KeyValues; ValueError naming the problem when one isn't."""
    try:
        return [KeyValue.FromString(chunk) for chunk in raw]
    except DecodeError:
        raise ValueError("an attribute is not a valid KeyValue (is its key or value valid UTF-8?)") from None


def attributes(raw: tuple[bytes, ...]) -> dict[str, str]:
    """Serialized KeyValues → labels; a later key wins over an earlier one that maps to the same name."""
    # `string_value or …`: one C attribute read for the usual string attribute, the full check otherwise.
    return {label_name(kv.key): kv.value.string_value or any_value(kv.value) for kv in key_values(raw)}


def _raw_size(raw: tuple[bytes, ...]) -> int:
    return 56 + 8 * len(raw) + sum([len(chunk) + 33 for chunk in raw])


def _labels_size(labels: dict[str, str]) -> int:
    return 232 + 40 * len(labels) + sum([len(k) + len(v) + 98 for k, v in labels.items()])


def _set_size(raw: tuple[bytes, ...], labels: dict[str, str]) -> int:
    return _raw_size(raw) + _labels_size(labels)


def _merged_size(key: tuple[tuple[bytes, ...], int], labels: dict[str, str]) -> int:
    # Its strings are shared with the `_sets` entry and the base, but the raw tuple is counted again: that
    # entry may be evicted first.
    return _raw_size(key[0]) + 120 + 40 * len(labels) + 232


class AttributeSets:
    """Labels of attribute lists by their raw bytes: an SDK exports the same attribute sets every time.

    A hit costs one tuple of bytes and one lookup instead of decoding each KeyValue. The dicts
    handed out are shared: callers copy before adding to them. Bounded in bytes (the sender picks
    the attributes): `max_bytes` split between the decoded sets, the merged ones and the bases.
    """

    def __init__(self, max_bytes: int = ATTRIBUTE_SETS_MAX_BYTES) -> None:
        self._sets: BoundedCache[tuple[bytes, ...], dict[str, str]] = metrics.watch_cache(
            "otlp_attributes", BoundedCache(max_bytes // 2, _set_size))
        self._merged: BoundedCache[tuple[tuple[bytes, ...], int], SharedLabels] = metrics.watch_cache(
            "otlp_merged_labels", BoundedCache(max_bytes // 4, _merged_size))
        self._bases: BoundedCache[tuple[tuple[str, str], ...], int] = metrics.watch_cache(
            "otlp_scope_labels", BoundedCache(max_bytes // 4, lambda key, ref: 120 + _labels_size(dict(key))))
        self._next_ref = itertools.count()

    def base_ref(self, base: dict[str, str]) -> int:
        """A small number standing for a scope's labels (job, instance, scope name) in `merged` keys."""
        key = tuple(base.items())
        ref = self._bases.get(key)
        if ref is None:
            # A ref is never given twice, so a `merged` key made before an eviction can't name another base.
            ref = self._bases.put(key, next(self._next_ref))
        return ref

    def merged(self, raw: tuple[bytes, ...], base: dict[str, str], ref: int) -> SharedLabels:
        """A point's labels: its attributes', then the scope's `base` (ref = base_ref(base)) over them.

        The same dict comes back for the same attributes and base in every export, so the pipeline's
        checks ride along with it (ingest/label_sets.py).
        """
        key = (raw, ref)
        found = self._merged.get(key)
        if found is None:
            found = SharedLabels({**self.get(raw), **base})
            if check_labels(found, _LIMITS) is None:  # a set ingest will refuse is not worth memory
                self._merged.put(key, found)
        return found

    def get(self, raw: tuple[bytes, ...]) -> dict[str, str]:
        """The labels of an attribute list (ValueError if it doesn't decode)."""
        found = self._sets.get(raw)
        if found is None:
            found = attributes(raw)
            if check_labels(found, _LIMITS) is None:
                self._sets.put(raw, found)
        return found


def resource_labels(raw_pairs: tuple[bytes, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """(labels every series of the resource gets: job/instance, labels of its `target_info`)."""
    raw = {kv.key: any_value(kv.value) for kv in key_values(raw_pairs)}
    common = {}
    name, namespace = raw.get(SERVICE_NAME), raw.get(SERVICE_NAMESPACE)
    if name:
        common["job"] = f"{namespace}/{name}" if namespace else name
    if raw.get(SERVICE_INSTANCE):
        common["instance"] = raw[SERVICE_INSTANCE]
    info = {label_name(k): v for k, v in raw.items()
            if k not in (SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE) and v}
    return common, {**info, **common} if info else {}
