"""An alerting rule's evaluation and per-alert state, as Prometheus 2.42's `AlertingRule.Eval` does it.

Each series of the rule's expression is one alert, identified by its labels after the rule's labels
(templated with `$labels`/`$value`) override the series' and `alertname` is set. An alert is pending
from its first evaluation and fires once it has been active for `for`; when its series disappears it
is resolved (a pending one is simply dropped), unless `keep_firing_for` keeps it firing a while longer.
Resolved alerts stay 15 minutes (`resolvedRetention`) so they are re-sent as resolved.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/alerting.go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from .files import AlertingRuleSpec
from .labelset import ALERT_NAME, METRIC_NAME, LabelBuilder, Labels, from_map
from .rule_query import QueryFunc, RuleEvaluationError, RuleSample

RESOLVED_RETENTION_MS = 15 * 60_000  # rules/alerting.go resolvedRetention
ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
ALERT_STATE_LABEL = "alertstate"

TemplateExpander = Callable[[str, Mapping[str, str], float, int, str], str]
"""expand(text, series labels, value, at_ms, alert name) → text, with Prometheus' `$labels`/`$value` definitions."""


class AlertState(Enum):
    """An alert's state; the value is Prometheus' name, used in ALERTS{alertstate=...}."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass
class Alert:
    """One alert of a rule: its identity, last value and annotations, and when it changed state.

    Times are Unix milliseconds; None is Go's zero time (never happened).
    """

    labels: Labels
    annotations: Labels  # sorted by name; empty values are kept, as Prometheus keeps them
    state: AlertState
    value: float
    active_at_ms: int
    fired_at_ms: int | None = None
    resolved_at_ms: int | None = None
    last_sent_at_ms: int | None = None
    valid_until_ms: int | None = None
    keep_firing_since_ms: int | None = None

    def needs_sending(self, at_ms: int, resend_delay_ms: int) -> bool:
        """Alert.needsSending: firing or resolved, and resolved since last sent or not sent for resend_delay."""
        if self.state is AlertState.PENDING:
            return False
        last_sent = self.last_sent_at_ms if self.last_sent_at_ms is not None else _ZERO_TIME
        if self.resolved_at_ms is not None and self.resolved_at_ms > last_sent:
            return True
        return last_sent + resend_delay_ms < at_ms


_ZERO_TIME = -62_135_596_800_000  # Go's time.Time{} (year 1) in Unix ms, so comparisons behave as Go's


class AlertingRule:
    """An alerting rule with its active alerts, keyed by label set."""

    def __init__(self, spec: AlertingRuleSpec, expand: TemplateExpander, restored: bool = True) -> None:
        self.spec = spec
        self.name = spec.alert
        self.labels: Labels = from_map(dict(spec.labels))
        self.annotations: Labels = from_map(dict(spec.annotations))
        self.active: dict[Labels, Alert] = {}
        self.restored = restored  # False until the `for` state was restored after a restart
        self._expand = expand

    def evaluate(self, at_ms: int, query: QueryFunc, limit: int) -> list[RuleSample]:
        """Run the rule at `at_ms`, update its alerts; returns the ALERTS/ALERTS_FOR_STATE samples to write."""
        results = query(self.spec.expr, at_ms)
        fresh: dict[Labels, Alert] = {}
        for sample in results:
            expand = self._expander(sample.labels, sample.value, at_ms)
            builder = LabelBuilder(sample.labels).delete(METRIC_NAME)
            for name, text in self.labels:
                builder.set(name, expand(text))
            builder.set(ALERT_NAME, self.name)
            annotations = tuple((name, expand(text)) for name, text in self.annotations)
            labels = builder.labels()
            if labels in fresh:
                raise RuleEvaluationError("vector contains metrics with the same labelset after applying alert labels")
            fresh[labels] = Alert(labels, annotations, AlertState.PENDING, sample.value, at_ms)

        for labels, alert in fresh.items():
            current = self.active.get(labels)
            if current is not None and current.state is not AlertState.INACTIVE:
                current.value = alert.value
                current.annotations = alert.annotations
                continue
            self.active[labels] = alert

        out: list[RuleSample] = []
        active_or_pending = 0
        for labels, alert in list(self.active.items()):
            if labels not in fresh:
                if not self._keeps_firing(alert, at_ms):
                    if alert.state is AlertState.PENDING or (
                            alert.resolved_at_ms is not None and at_ms - alert.resolved_at_ms > RESOLVED_RETENTION_MS):
                        del self.active[labels]
                    if alert.state is not AlertState.INACTIVE:
                        alert.state = AlertState.INACTIVE
                        alert.resolved_at_ms = at_ms
                    continue
            else:
                alert.keep_firing_since_ms = None
            active_or_pending += 1
            if alert.state is AlertState.PENDING and at_ms - alert.active_at_ms >= self.spec.for_ms:
                alert.state = AlertState.FIRING
                alert.fired_at_ms = at_ms
            if self.restored:
                out.append(self.alerts_sample(alert, at_ms))
                out.append(self.for_state_sample(alert, at_ms, float(_unix_seconds(alert.active_at_ms))))

        if limit > 0 and active_or_pending > limit:
            self.active = {}
            raise RuleEvaluationError(f"exceeded limit of {limit} with {active_or_pending} alerts")
        return out

    def _keeps_firing(self, alert: Alert, at_ms: int) -> bool:
        # keep_firing_for counts from the first evaluation at which the firing alert's series was gone.
        if alert.state is not AlertState.FIRING or self.spec.keep_firing_for_ms <= 0:
            return False
        if alert.keep_firing_since_ms is None:
            alert.keep_firing_since_ms = at_ms
        return at_ms - alert.keep_firing_since_ms < self.spec.keep_firing_for_ms

    def _expander(self, labels: Labels, value: float, at_ms: int) -> Callable[[str], str]:
        as_map = dict(labels)
        return lambda text: self._expand(text, as_map, value, at_ms, self.name)

    def alerts_sample(self, alert: Alert, at_ms: int) -> RuleSample:
        """The ALERTS{alertstate=...} sample of an alert (value 1)."""
        # Prometheus starts from the rule's raw (untemplated) labels, so a label whose template expanded
        # to "" shows its template text here; reproduced for fidelity.
        builder = LabelBuilder(self.labels)
        for name, value in alert.labels:
            builder.set(name, value)
        builder.set(METRIC_NAME, ALERTS_METRIC).set(ALERT_NAME, self.name).set(ALERT_STATE_LABEL, alert.state.value)
        return RuleSample(builder.labels(), at_ms, 1.0)

    def for_state_sample(self, alert: Alert, at_ms: int, value: float) -> RuleSample:
        """The ALERTS_FOR_STATE sample of an alert: its active-since time in Unix seconds."""
        builder = LabelBuilder(self.labels)
        for name, label_value in alert.labels:
            builder.set(name, label_value)
        builder.set(METRIC_NAME, ALERTS_FOR_STATE_METRIC).set(ALERT_NAME, self.name)
        return RuleSample(builder.labels(), at_ms, value)

    def active_alerts(self) -> list[Alert]:
        """Alerts that are pending or firing (copies)."""
        return [replace(a) for a in self.active.values() if a.state is not AlertState.INACTIVE]


def _unix_seconds(ms: int) -> int:
    # time.Time.Unix(): whole seconds, rounded toward minus infinity
    return ms // 1000
