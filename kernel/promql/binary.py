"""Binary operators: arithmetic, comparisons (filtering or `bool`), set operators, vector matching.

Follows Prometheus 2.42 promql/engine.go (VectorBinop, VectorAnd/Or/Unless, VectorscalarBinop,
resultMetric, vectorElemBinop) including its error messages.
https://prometheus.io/docs/prometheus/latest/querying/operators/
"""

from __future__ import annotations

import math
import operator

from . import gomath
from .errors import PromQLError
from .model import METRIC_NAME, Sample, Vector, format_labels, without_name
from .nodes import Binary

ARITHMETIC = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": gomath.div, "%": gomath.mod,
    "^": gomath.power, "atan2": math.atan2,
}
COMPARISON = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge,
    "<=": operator.le,
}
SET_OPERATORS = frozenset({"and", "or", "unless"})
# Prometheus 2.42 shouldDropMetricName lists + - * / % ^ but not atan2, so atan2 keeps the name.
_DROPS_NAME = frozenset({"+", "-", "*", "/", "%", "^"})


def scalar_op(op: str, lhs: float, rhs: float) -> float:
    """Apply `op` to two scalars; comparisons (always `bool` between scalars) give 1 or 0."""
    if op in COMPARISON:
        return 1.0 if COMPARISON[op](lhs, rhs) else 0.0
    return _arith(op, lhs, rhs)


def _arith(op: str, lhs: float, rhs: float) -> float:
    try:
        return ARITHMETIC[op](lhs, rhs)
    except OverflowError:  # float + float never raises; * and - can't either; kept for safety
        return math.inf


def signature(on: bool, names: tuple[str, ...]):
    """Return the function giving a sample's matching key under on(names) / ignoring(names)."""
    if on:
        wanted = tuple(sorted(set(names)))
        return lambda labels: tuple(labels.get(n, "") for n in wanted)
    dropped = frozenset(names) | {METRIC_NAME}
    return lambda labels: tuple(sorted(kv for kv in labels.items() if kv[0] not in dropped))


def vector_scalar(op: str, vec: Vector, scalar: float, scalar_left: bool, return_bool: bool, ts: int) -> Vector:
    """Apply `op` between every sample and a scalar; comparisons keep the vector's value."""
    out = []
    compare = COMPARISON.get(op)
    for s in vec:
        lv, rv = (scalar, s.value) if scalar_left else (s.value, scalar)
        if compare is not None:
            keep = compare(lv, rv)
            value = s.value
        else:
            keep, value = True, _arith(op, lv, rv)
        if return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if keep:
            labels = without_name(s.labels) if (op in _DROPS_NAME or return_bool) else s.labels
            out.append(Sample(labels, value, ts))
    return out


def set_operation(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    """`and`, `or`, `unless`: keep or add whole samples by their matching key."""
    sig = signature(node.on, node.matching)
    if node.op == "and":
        if not lhs or not rhs:
            return []
        keys = {sig(s.labels) for s in rhs}
        return [s for s in lhs if sig(s.labels) in keys]
    if node.op == "or":
        if not lhs or not rhs:
            return lhs + rhs
        keys = {sig(s.labels) for s in lhs}
        return lhs + [s for s in rhs if sig(s.labels) not in keys]
    if not lhs or not rhs:
        return lhs
    keys = {sig(s.labels) for s in rhs}
    return [s for s in lhs if sig(s.labels) not in keys]


def _match_labels(labels: dict[str, str], on: bool, names: tuple[str, ...]) -> dict[str, str]:
    if on:
        return {k: v for k, v in labels.items() if k in names}
    return {k: v for k, v in labels.items() if k not in names and k != METRIC_NAME}


def vector_vector(node: Binary, lhs: Vector, rhs: Vector, ts: int) -> Vector:
    """Arithmetic or comparison between two vectors with one-to-one or many-to-one matching."""
    if not lhs or not rhs:
        return []
    card = node.card
    sig = signature(node.on, node.matching)
    swapped = card == "one-to-many"
    if swapped:  # handle group_right as group_left with the sides exchanged
        lhs, rhs = rhs, lhs
    one_side: dict[tuple, Sample] = {}
    for one in rhs:
        key = sig(one.labels)
        dup = one_side.get(key)
        if dup is not None:
            side = "left" if swapped else "right"
            raise PromQLError(
                f"found duplicate series for the match group "
                f"{format_labels(_match_labels(one.labels, node.on, node.matching))} on the {side} "
                f"hand-side of the operation: [{format_labels(one.labels)}, {format_labels(dup.labels)}]"
                ";many-to-many matching not allowed: matching labels must be unique on one side"
            )
        one_side[key] = one
    compare = COMPARISON.get(node.op)
    drop_name = node.op in _DROPS_NAME or node.return_bool
    matched: dict = {}
    out = []
    for ls in lhs:
        key = sig(ls.labels)
        rs = one_side.get(key)
        if rs is None:
            continue
        fl, fr = (rs.value, ls.value) if swapped else (ls.value, rs.value)
        if compare is not None:
            keep, value = compare(fl, fr), fl
            if node.return_bool:
                value, keep = (1.0 if keep else 0.0), True
            if not keep:
                continue
        else:
            value = _arith(node.op, fl, fr)
        labels = _result_labels(ls.labels, rs.labels, node, drop_name)
        if card == "one-to-one":
            if key in matched:
                raise PromQLError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            matched[key] = None
        else:
            inserted = matched.setdefault(key, set())
            result_key = tuple(sorted(labels.items()))
            if result_key in inserted:
                raise PromQLError("multiple matches for labels: grouping labels must ensure unique matches")
            inserted.add(result_key)
        out.append(Sample(labels, value, ts))
    return out


def _result_labels(many: dict[str, str], one: dict[str, str], node: Binary, drop_name: bool) -> dict[str, str]:
    labels = without_name(many) if drop_name else many
    if node.card == "one-to-one":
        if node.on:
            labels = {k: v for k, v in labels.items() if k in node.matching}
        elif node.matching:
            labels = {k: v for k, v in labels.items() if k not in node.matching}
    if node.include:
        labels = dict(labels)
        for name in node.include:  # group_x(labels) copies these from the "one" side
            value = one.get(name, "")
            if value:
                labels[name] = value
            else:
                labels.pop(name, None)
    return labels
