"""Aggregation operators (sum, avg, count, min, max, group, stddev, stdvar, topk, bottomk, quantile,
count_values) with by/without grouping.

Follows Prometheus 2.42 promql/engine.go `aggregation`, including its incremental mean and
variance, NaN handling of min/max and topk/bottomk heaps.
https://prometheus.io/docs/prometheus/latest/querying/operators/#aggregation-operators
"""

from __future__ import annotations

import heapq
import math

from kernel.names import is_label_name

from . import gomath
from .errors import PromQLError
from .model import METRIC_NAME, Sample, Vector
from .nodes import Aggregate
from .quantile import quantile

_MAX_INT64 = 2**63 - 1


def _grouping_key(node: Aggregate):
    if node.without:
        dropped = frozenset(node.grouping) | {METRIC_NAME}
        return lambda labels: tuple(sorted(kv for kv in labels.items() if kv[0] not in dropped))
    names = tuple(sorted(set(node.grouping)))
    return lambda labels: tuple((n, labels[n]) for n in names if labels.get(n))


def aggregate(node: Aggregate, vec: Vector, param, ts: int) -> Vector:
    """Aggregate `vec` per group; `param` is the float/str parameter of topk, quantile, count_values."""
    op = node.op
    if op == "count_values":
        return _count_values(node, vec, param, ts)
    if op in ("topk", "bottomk"):
        return _top_or_bottom(node, vec, param, ts)
    key_of = _grouping_key(node)
    groups: dict = {}
    for s in vec:
        key = key_of(s.labels)
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(s.value, op)
        else:
            group.add(s.value, op)
    out = []
    for key, group in groups.items():
        out.append(Sample(dict(key), group.result(op, param), ts))
    return out


class _Group:
    """Running state of one group (Prometheus' groupedAggregation)."""

    __slots__ = ("value", "mean", "count", "values")
    values: list[float]  # every value, for quantile only (other groups leave the slot unset: no list each)

    def __init__(self, v: float, op: str) -> None:
        self.value = v
        self.mean = v
        self.count = 1
        if op == "quantile":
            self.values = [v]
        if op in ("stddev", "stdvar"):
            self.value = 0.0
        elif op == "group":
            self.value = 1.0

    def add(self, v: float, op: str) -> None:
        if op == "sum":
            self.value += v
        elif op == "avg":
            self.count += 1
            mean = self.mean
            if math.isinf(mean):
                if math.isinf(v) and (mean > 0) == (v > 0):
                    return  # same-signed infinities: the mean stays
                if not math.isinf(v) and not math.isnan(v):
                    return  # an infinite mean absorbs finite values (avoids Inf - Inf)
            # Divide before subtracting to avoid overflow, as Prometheus does (mind the grouping).
            self.mean = mean + (v / self.count - mean / self.count)
        elif op in ("count",):
            self.count += 1
        elif op == "max":
            if self.value < v or math.isnan(self.value):
                self.value = v
        elif op == "min":
            if self.value > v or math.isnan(self.value):
                self.value = v
        elif op in ("stddev", "stdvar"):
            self.count += 1
            delta = v - self.mean
            self.mean += delta / self.count
            self.value += delta * (v - self.mean)
        elif op == "quantile":
            self.values.append(v)
        # group: nothing to accumulate

    def result(self, op: str, param) -> float:
        if op == "avg":
            return self.mean
        if op == "count":
            return float(self.count)
        if op == "stdvar":
            return self.value / self.count
        if op == "stddev":
            return math.sqrt(self.value / self.count)
        if op == "quantile":
            return quantile(param, self.values)
        return self.value


def _count_values(node: Aggregate, vec: Vector, label: str, ts: int) -> Vector:
    if not is_label_name(label):
        raise PromQLError(f"invalid label name {label!r}")
    grouping = node.grouping if node.without else node.grouping + (label,)
    key_of = _grouping_key(Aggregate(node.op, node.expr, None, node.without, grouping))
    counts: dict = {}
    for s in vec:
        labels = dict(s.labels)
        labels[label] = gomath.format_f(s.value)
        key = key_of(labels)
        counts[key] = counts.get(key, 0) + 1
    return [Sample(dict(key), float(n), ts) for key, n in counts.items()]


def _top_or_bottom(node: Aggregate, vec: Vector, param: float, ts: int) -> Vector:
    if math.isnan(param) or abs(param) > _MAX_INT64:
        raise PromQLError(f"Scalar value {gomath.format_f(param)} overflows int64")
    k = int(param)
    if k < 1:
        return []
    top = node.op == "topk"

    # Heap keys: the root is the sample to evict next; NaN is evicted first (Prometheus' heaps).
    def rank(v: float) -> tuple[int, float]:
        if v != v:
            return (0, 0.0)
        return (1, v) if top else (1, -v)

    key_of = _grouping_key(node)
    heaps: dict = {}
    for seq, s in enumerate(vec):
        heap = heaps.setdefault(key_of(s.labels), [])
        item = (rank(s.value), seq, s)
        if len(heap) < k:
            heapq.heappush(heap, item)
        elif item[0] > heap[0][0]:
            heapq.heapreplace(heap, item)
    out = []
    for heap in heaps.values():
        # Best first, NaN last.
        for _, _, s in sorted(heap, key=lambda it: (it[0][0] == 0, -it[0][1])):
            out.append(Sample(s.labels, s.value, ts))
    return out
