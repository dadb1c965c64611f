"""The PromQL engine: evaluates an expression tree at one time (instant) or at every step of a range.

Every node is evaluated at one timestamp at a time; selectors read samples fetched once per query
(selection.py), and subquery steps are memoised so a range query does not recompute them.
Semantics follow Prometheus 2.42 promql/engine.go; https://prometheus.io/docs/prometheus/latest/querying/
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .aggregate import aggregate
from .binary import SET_OPERATORS, scalar_op, set_operation, vector_scalar, vector_vector
from .errors import PromQLError
from .functions import INSTANT_FUNCTIONS, KEEP_LABELS, absent_labels
from .model import (
    Matrix, Sample, Scalar, Series, String, Value, Vector, labels_key, same_labelset_check,
    without_name,
)
from .nodes import (
    MATRIX, SCALAR, STRING, VECTOR, Aggregate, Binary, Call, Expr, MatrixSelector, Negation,
    NumberLiteral, Paren, StringLiteral, Subquery, VectorSelector,
)
from .parse import parse
from .range_functions import KEEPS_METRIC_NAME, MATRIX_ARG_INDEX, RANGE_FUNCTIONS, RangeWindow
from .selection import Fetched, fetch, instant_samples, plan_fetch, range_series, resolve_at
from .storage import Storage

DEFAULT_LOOKBACK_MS = 300_000
DEFAULT_SUBQUERY_STEP_MS = 60_000  # Prometheus' default global evaluation_interval


class Engine:
    """Evaluates PromQL over a Storage with Prometheus 2.42 semantics."""

    def __init__(
        self,
        storage: Storage,
        lookback_delta_ms: int = DEFAULT_LOOKBACK_MS,
        *,
        default_subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS,
    ) -> None:
        self.storage = storage
        self.lookback_delta_ms = lookback_delta_ms
        # Prometheus uses the global evaluation interval for subqueries without a step
        # (promtool: the test group's evaluation_interval).
        self.default_subquery_step_ms = default_subquery_step_ms

    def instant(self, expr: str | Expr, at_ms: int) -> Vector | Scalar | Matrix | String:
        """Evaluate `expr` at `at_ms`, like /api/v1/query."""
        node = parse(expr) if isinstance(expr, str) else expr
        ev = _Evaluator(self, node, at_ms, at_ms)
        return ev.eval(node, at_ms)

    def range(self, expr: str | Expr, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        """Evaluate `expr` at start, start+step, ... <= end, like /api/v1/query_range."""
        node = parse(expr) if isinstance(expr, str) else expr
        if node.type not in (SCALAR, VECTOR):
            raise PromQLError(
                f'invalid expression type "{_type_name(node.type)}" for range query, '
                "must be Scalar or instant Vector"
            )
        if step_ms <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted")
        if end_ms < start_ms:
            raise PromQLError("end timestamp must not be before start time")
        ev = _Evaluator(self, node, start_ms, end_ms)
        series: dict = {}
        for ts in range(start_ms, end_ms + 1, step_ms):
            _append_step(series, ev.eval(node, ts), ts)
        return [series[k] for k in sorted(series)]


def _type_name(kind: str) -> str:
    return {MATRIX: "range vector", STRING: "string"}.get(kind, kind)


class _Evaluator:
    """State of one query: fetch windows, fetched series, memoised subquery steps."""

    def __init__(self, engine: Engine, root: Expr, start_ms: int, end_ms: int) -> None:
        self.storage = engine.storage
        self.lookback_ms = engine.lookback_delta_ms
        self.subquery_step_ms = engine.default_subquery_step_ms
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.windows = plan_fetch(root, start_ms, end_ms, self.lookback_ms)
        self.fetched: dict[int, Fetched] = {}
        self.memo: dict[tuple[int, int], Value] = {}
        # node class → the method that evaluates it (its node parameter is that class; a dict can't say so: Any)
        self.dispatch: dict[type, Callable[[Any, int], Value]] = {
            NumberLiteral: self._number, StringLiteral: self._string, VectorSelector: self._vector,
            MatrixSelector: self._matrix, Subquery: self._subquery, Paren: self._paren,
            Negation: self._negation, Binary: self._binary, Aggregate: self._aggregate, Call: self._call,
        }

    def eval(self, node: Expr, ts: int) -> Value:
        """Evaluate `node` at time `ts`."""
        return self.dispatch[type(node)](node, ts)

    def _data(self, node: VectorSelector) -> Fetched:
        data = self.fetched.get(id(node))
        if data is None:
            data = self.fetched[id(node)] = fetch(self.storage, node, self.windows[id(node)])
        return data

    def _ref_time(self, at, offset_ms: int, ts: int) -> int:
        at_ms = resolve_at(at, self.start_ms, self.end_ms)
        return (ts if at_ms is None else at_ms) - offset_ms

    # Leaves

    def _number(self, node: NumberLiteral, ts: int) -> Scalar:
        return Scalar(node.value, ts)

    def _string(self, node: StringLiteral, ts: int) -> String:
        return String(node.value, ts)

    def _vector(self, node: VectorSelector, ts: int, own_time: bool = False) -> Vector:
        ref = self._ref_time(node.at, node.offset_ms, ts)
        return instant_samples(self._data(node), ref, self.lookback_ms, None if own_time else ts)

    def _matrix(self, node: MatrixSelector, ts: int) -> Matrix:
        return self._range_arg(node, ts)[0]

    def _range_arg(self, node: MatrixSelector | Subquery, ts: int) -> tuple[Matrix, RangeWindow]:
        if isinstance(node, MatrixSelector):
            sel = node.selector
            end = self._ref_time(sel.at, sel.offset_ms, ts)
            start = end - node.range_ms
            return range_series(self._data(sel), start, end), RangeWindow(start, end, ts)
        end = self._ref_time(node.at, node.offset_ms, ts)
        start = end - node.range_ms
        return self._subquery_points(node, start, end), RangeWindow(start, end, ts)

    def _subquery(self, node: Subquery, ts: int) -> Matrix:
        return self._range_arg(node, ts)[0]

    def _subquery_points(self, node: Subquery, start: int, end: int) -> Matrix:
        step = node.step_ms or self.subquery_step_ms
        first = -((-start) // step) * step  # first multiple of the step at or after start
        inner = node.expr
        series: dict = {}
        for t in range(first, end + 1, step):
            key = (id(inner), t)
            value = self.memo.get(key)
            if value is None:
                value = self.memo[key] = self.eval(inner, t)
            _append_step(series, value, t)
        return list(series.values())

    # Operators. The parser checked each operand's type (every node has a static `type`), so an operand that
    # is not a Scalar is an instant Vector: the casts say so to the type checker, with no check at run time.

    def _paren(self, node: Paren, ts: int) -> Value:
        return self.eval(node.expr, ts)

    def _negation(self, node: Negation, ts: int) -> Value:
        value = self.eval(node.expr, ts)
        if isinstance(value, Scalar):
            return Scalar(-value.value, ts)
        out = [Sample(without_name(s.labels), -s.value, ts) for s in cast(Vector, value)]
        same_labelset_check(out)
        return out

    def _binary(self, node: Binary, ts: int) -> Value:
        lhs = self.eval(node.lhs, ts)
        rhs = self.eval(node.rhs, ts)
        if node.op in SET_OPERATORS:
            return set_operation(node, cast(Vector, lhs), cast(Vector, rhs))
        if isinstance(lhs, Scalar):
            if isinstance(rhs, Scalar):
                return Scalar(scalar_op(node.op, lhs.value, rhs.value), ts)
            out = vector_scalar(node.op, cast(Vector, rhs), lhs.value, True, node.return_bool, ts)
        elif isinstance(rhs, Scalar):
            out = vector_scalar(node.op, cast(Vector, lhs), rhs.value, False, node.return_bool, ts)
        else:
            out = vector_vector(node, cast(Vector, lhs), cast(Vector, rhs), ts)
        same_labelset_check(out)
        return out

    def _aggregate(self, node: Aggregate, ts: int) -> Vector:
        param = None
        if node.param is not None:  # a number (topk, bottomk, quantile) or a label name (count_values)
            param = cast("Scalar | String", self.eval(node.param, ts)).value
        return aggregate(node, cast(Vector, self.eval(node.expr, ts)), param, ts)

    def _call(self, node: Call, ts: int) -> Value:
        name = node.func
        if name in RANGE_FUNCTIONS or name == "absent_over_time":
            return self._range_call(node, ts)
        if name == "timestamp" and isinstance(node.args[0], VectorSelector):
            # timestamp(selector) reports the samples' own times, not the evaluation time.
            args: list[Value] = [self._vector(node.args[0], ts, own_time=True)]
        else:
            args = [self.eval(a, ts) for a in node.args]
        fn = INSTANT_FUNCTIONS.get(name)
        if fn is None:
            raise PromQLError(f"function {name!r} is not implemented")
        out = fn(args, node, ts)
        if isinstance(out, list) and name not in KEEP_LABELS:
            same_labelset_check(out)
        return out

    def _range_call(self, node: Call, ts: int) -> Vector:
        name = node.func
        index = MATRIX_ARG_INDEX.get(name, 0)
        matrix, window = self._range_arg(cast("MatrixSelector | Subquery", node.args[index]), ts)
        if name == "absent_over_time":
            return [] if matrix else [Sample(absent_labels(node.args[0]), 1.0, ts)]
        scalars = [cast(Scalar, self.eval(a, ts)).value for i, a in enumerate(node.args) if i != index]
        fn = RANGE_FUNCTIONS[name]
        keep_name = name in KEEPS_METRIC_NAME
        out = []
        for s in matrix:
            value = fn(s.timestamps, s.values, window, scalars)
            if value is not None:
                out.append(Sample(s.labels if keep_name else without_name(s.labels), value, ts))
        same_labelset_check(out)
        return out


def _append_step(series: dict, value, ts: int) -> None:
    """Add one step's result (a vector, or a scalar as a label-less sample) to the series by label set."""
    if isinstance(value, Scalar):
        value = [Sample({}, value.value, ts)]
    for s in value:
        key = labels_key(s.labels)
        out = series.get(key)
        if out is None:
            out = series[key] = Series(s.labels, [], [])
        out.timestamps.append(ts)
        out.values.append(s.value)
