"""A recording rule's evaluation, as Prometheus 2.42's `RecordingRule.Eval` does it.

The result series are renamed to the rule's `record` name and get the rule's labels (an empty
value removes the label); two results with the same labels afterwards, or more series than the
group's `limit`, fail the evaluation.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/recording.go.
"""

from __future__ import annotations

from .files import RecordingRuleSpec
from .labelset import METRIC_NAME, LabelBuilder
from .rule_query import QueryFunc, RuleEvaluationError, RuleSample


class RecordingRule:
    """A recording rule (stateless: what it wrote last time is tracked by the group, for staleness)."""

    def __init__(self, spec: RecordingRuleSpec) -> None:
        self.spec = spec
        self.name = spec.record

    def evaluate(self, at_ms: int, query: QueryFunc, limit: int) -> list[RuleSample]:
        """Run the rule at `at_ms`; returns the samples to record."""
        out = []
        seen = set()
        for sample in query(self.spec.expr, at_ms):
            builder = LabelBuilder(sample.labels).set(METRIC_NAME, self.name)
            for name, value in self.spec.labels:
                builder.set(name, value)
            labels = builder.labels()
            if labels in seen:
                raise RuleEvaluationError("vector contains metrics with the same labelset after applying rule labels")
            seen.add(labels)
            out.append(RuleSample(labels, at_ms, sample.value))
        if limit > 0 and len(out) > limit:
            raise RuleEvaluationError(f"exceeded limit of {limit} with {len(out)} series")
        return out
