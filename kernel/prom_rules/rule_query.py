"""What a rule asks of the outside world: run an instant query, and what comes back.

Prometheus gives rules a `QueryFunc(ctx, expr, ts) -> Vector`; `EngineQueryFunc` turns a scalar
result into one sample without labels and refuses strings and matrices.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/manager.go (EngineQueryFunc).
The group evaluator takes any QueryFunc, so a worker can evaluate against VictoriaMetrics' API and a
test against the in-memory PromQL engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kernel.promql import PromQLError, Sample, Scalar, parse
from kernel.promql.nodes import MATRIX

from .labelset import Labels


class RuleEvaluationError(ValueError):
    """A rule could not be evaluated at one timestamp (query error, limit, duplicate series); Prometheus' text."""


@dataclass(frozen=True)
class QuerySample:
    """One element of a rule query's result: labels (with `__name__` if any) and value."""

    labels: Labels
    value: float


@dataclass(frozen=True)
class RuleSample:
    """A sample a rule writes: a recorded series, ALERTS/ALERTS_FOR_STATE, or a staleness marker."""

    labels: Labels
    timestamp_ms: int
    value: float


QueryFunc = Callable[[str, int], list[QuerySample]]
"""query(expr, at_ms) → instant vector; raises RuleEvaluationError (or PromQLError) on failure."""


def engine_query_func(engine) -> QueryFunc:
    """EngineQueryFunc over a kernel.promql Engine: vectors as they are, a scalar as one unlabelled sample."""

    def query(expr: str, at_ms: int) -> list[QuerySample]:
        try:
            result = engine.instant(expr, at_ms)
        except PromQLError as exc:
            raise RuleEvaluationError(str(exc)) from None
        if isinstance(result, Scalar):
            return [QuerySample((), result.value)]
        if isinstance(result, list) and all(isinstance(s, Sample) for s in result) and (
                result or parse(expr).type != MATRIX):  # an empty range vector is still a matrix
            return [QuerySample(tuple(sorted(s.labels.items())), s.value) for s in result]
        raise RuleEvaluationError("rule result is not a vector or scalar")

    return query
