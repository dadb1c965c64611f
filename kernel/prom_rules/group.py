"""A rule group's evaluation, as Prometheus 2.42's `Group.Eval` does it — pure: time and I/O are injected.

At each timestamp the rules run in file order. A rule's samples (recorded series, and ALERTS /
ALERTS_FOR_STATE for alerting rules) are appended to storage at once, so later rules of the group
see them; a series a rule wrote last time but not this time gets a staleness marker. A failing
rule keeps its previous alerts and writes nothing. After each alerting rule, the alerts Prometheus
would send to Alertmanager now (firing ones every `resend_delay`, resolved ones until retention ends)
are collected with Prometheus' StartsAt/EndsAt.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/manager.go (Group.Eval, sendAlerts)
and https://github.com/prometheus/prometheus/blob/v2.42.0/cmd/prometheus/main.go (sendAlerts).

The caller publishes what `evaluate` returns: `GroupEvaluation.samples`, `.transitions`, `.notifications`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum
from urllib.parse import quote_plus

from kernel.promql import STALE_NAN, PromQLError

from .alerting import Alert, AlertingRule, AlertState, TemplateExpander
from .files import AlertingRuleSpec, RuleGroupSpec
from .group_state import GroupState, RuleState
from .labelset import Labels, to_text
from .recording import RecordingRule
from .rule_query import QueryFunc, RuleEvaluationError, RuleSample
from .tsdb_appender import AppendError, SampleAppender

DEFAULT_RESEND_DELAY_MS = 60_000  # --rules.alert.resend-delay
DEFAULT_INTERVAL_MS = 60_000  # global.evaluation_interval


class RuleKind(Enum):
    """Which of the two kinds of rule."""

    RECORDING = "recording"
    ALERTING = "alerting"


@dataclass(frozen=True)
class RuleOutcome:
    """How one rule's evaluation went: `error` is Prometheus' message, None when it succeeded."""

    rule: str
    kind: RuleKind
    error: str | None
    samples: int  # samples written (recorded series or ALERTS/ALERTS_FOR_STATE)


@dataclass(frozen=True)
class AlertTransition:
    """An alert changed state at this evaluation (INACTIVE as `to_state` means resolved, or a dropped pending alert)."""

    rule: str
    labels: Labels
    annotations: Labels
    value: float
    from_state: AlertState
    to_state: AlertState
    active_at_ms: int
    fired_at_ms: int | None
    resolved_at_ms: int | None
    at_ms: int


@dataclass(frozen=True)
class AlertNotification:
    """An alert Prometheus would send to Alertmanager now (notifier.Alert; external labels not yet added)."""

    rule: str
    labels: Labels
    annotations: Labels
    starts_at_ms: int  # when it started firing
    ends_at_ms: int  # resolved time, or (still firing) the time after which it expires unless re-sent
    resolved: bool
    generator_url: str


@dataclass(frozen=True)
class GroupEvaluation:
    """Everything one evaluation produced, for the caller to publish."""

    group: str
    at_ms: int
    samples: tuple[RuleSample, ...]  # as appended, in rule order; staleness markers have STALE_NAN values
    transitions: tuple[AlertTransition, ...]
    notifications: tuple[AlertNotification, ...]
    outcomes: tuple[RuleOutcome, ...]  # one per rule, in rule order


Rule = RecordingRule | AlertingRule


class RuleGroup:
    """A group's rules and their state; `evaluate(at_ms)` runs them once."""

    def __init__(self, spec: RuleGroupSpec, *, query: QueryFunc, expand: TemplateExpander,
                 appender: SampleAppender | None = None, default_interval_ms: int = DEFAULT_INTERVAL_MS,
                 resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS, external_url: str = "",
                 restored: bool = True, state: GroupState | None = None) -> None:
        """`restored=False` (Prometheus at startup) writes no ALERTS series until `for` state is restored."""
        self.spec = spec
        self.name = spec.name
        self.interval_ms = spec.interval_ms or default_interval_ms
        self.rules: list[Rule] = [AlertingRule(r, expand, restored) if isinstance(r, AlertingRuleSpec)
                                  else RecordingRule(r) for r in spec.rules]
        self.last_errors: list[str | None] = [None] * len(self.rules)
        self._query = query
        self._appender = appender
        self._resend_delay_ms = resend_delay_ms
        self._external_url = external_url
        self._previous: list[dict[Labels, None]] = [{} for _ in self.rules]  # series written last time, per rule
        if state is not None:
            self._copy_state(state)

    def evaluate(self, at_ms: int) -> GroupEvaluation:
        """Run every rule at `at_ms`, in order; never raises for a rule's failure (see `outcomes`)."""
        samples: list[RuleSample] = []
        transitions: list[AlertTransition] = []
        notifications: list[AlertNotification] = []
        outcomes: list[RuleOutcome] = []
        for i, rule in enumerate(self.rules):
            before = _states(rule) if isinstance(rule, AlertingRule) else {}
            try:
                produced = rule.evaluate(at_ms, self._query, self.spec.limit)
            except (RuleEvaluationError, PromQLError) as exc:
                self.last_errors[i] = str(exc)
                outcomes.append(RuleOutcome(rule.name, _kind(rule), str(exc), 0))
                if isinstance(rule, AlertingRule):
                    transitions.extend(_transitions(rule, before, at_ms))  # a limit error drops every alert
                continue
            self.last_errors[i] = None
            if isinstance(rule, AlertingRule):
                transitions.extend(_transitions(rule, before, at_ms))
                notifications.extend(self._send(rule, at_ms))
            written = self._write(i, produced, at_ms, samples)
            outcomes.append(RuleOutcome(rule.name, _kind(rule), self.last_errors[i], written))
        return GroupEvaluation(self.name, at_ms, tuple(samples), tuple(transitions), tuple(notifications),
                               tuple(outcomes))

    def _write(self, i: int, produced: list[RuleSample], at_ms: int, samples: list[RuleSample]) -> int:
        returned: dict[Labels, None] = {}
        for sample in produced:
            try:
                if self._appender is not None:
                    self._appender.append(sample.labels, sample.timestamp_ms, sample.value)
            except AppendError as exc:
                self.last_errors[i] = str(exc)  # Prometheus marks the rule unhealthy and drops the sample
                continue
            returned[sample.labels] = None
            samples.append(sample)
        for labels in self._previous[i]:
            if labels in returned:
                continue
            marker = RuleSample(labels, at_ms, STALE_NAN)  # the series is gone: mark it stale
            try:
                if self._appender is not None:
                    self._appender.append(labels, at_ms, STALE_NAN)
            except AppendError:
                continue  # expected when another rule wrote the series; Prometheus ignores it too
            samples.append(marker)
        self._previous[i] = returned
        return len(returned)

    def _send(self, rule: AlertingRule, at_ms: int) -> list[AlertNotification]:
        # AlertingRule.sendAlerts: an alert may be missed by two evaluations or sends before it expires.
        out = []
        for alert in rule.active.values():
            if not alert.needs_sending(at_ms, self._resend_delay_ms):
                continue
            alert.last_sent_at_ms = at_ms
            alert.valid_until_ms = at_ms + 4 * max(self._resend_delay_ms, self.interval_ms)
            resolved_at_ms = alert.resolved_at_ms
            out.append(AlertNotification(
                rule.name, alert.labels, alert.annotations,
                alert.fired_at_ms if alert.fired_at_ms is not None else 0,
                resolved_at_ms if resolved_at_ms is not None else alert.valid_until_ms, resolved_at_ms is not None,
                self._external_url + "/graph?g0.expr=" + quote_plus(rule.spec.expr) + "&g0.tab=1"))
        return out

    def alerting_rules(self) -> list[AlertingRule]:
        """The group's alerting rules, in order."""
        return [r for r in self.rules if isinstance(r, AlertingRule)]

    def snapshot(self) -> GroupState:
        """The group's state (alerts, series written last, restored flags) for a versioned codec."""
        return GroupState(self.name, [
            RuleState(_rule_key(rule), [_copy(a) for a in rule.active.values()] if isinstance(rule, AlertingRule) else [],
                      list(self._previous[i]), rule.restored if isinstance(rule, AlertingRule) else True)
            for i, rule in enumerate(self.rules)])

    def _copy_state(self, state: GroupState) -> None:
        # Group.CopyState: match rules by name and labels, the first unused one for repeats.
        unused: dict[str, list[RuleState]] = {}
        for saved in state.rules:
            unused.setdefault(saved.key, []).append(saved)
        for i, rule in enumerate(self.rules):
            candidates = unused.get(_rule_key(rule))
            if not candidates:
                continue
            saved = candidates.pop(0)
            self._previous[i] = dict.fromkeys(saved.previous_series)
            if isinstance(rule, AlertingRule):
                rule.active = {a.labels: _copy(a) for a in saved.alerts}
                rule.restored = rule.restored or saved.restored


def _rule_key(rule: Rule) -> str:
    # nameAndLabels in rules/manager.go: the identity that survives a reload
    labels = rule.labels if isinstance(rule, AlertingRule) else tuple(sorted(rule.spec.labels))
    return rule.name + to_text(labels)


def _kind(rule: Rule) -> RuleKind:
    return RuleKind.ALERTING if isinstance(rule, AlertingRule) else RuleKind.RECORDING


def _copy(alert: Alert) -> Alert:
    return replace(alert)


def _states(rule: AlertingRule) -> dict[Labels, tuple[Alert, AlertState]]:
    return {labels: (a, a.state) for labels, a in rule.active.items()}


def _transitions(rule: AlertingRule, before: Mapping[Labels, tuple[Alert, AlertState]],
                 at_ms: int) -> list[AlertTransition]:
    out = []
    for labels, alert in rule.active.items():
        previous = before.get(labels)
        # A new Alert object for the same labels means a resolved alert came back: it starts over.
        was = previous[1] if previous is not None and previous[0] is alert else AlertState.INACTIVE
        if was is not alert.state:
            out.append(_transition(rule, alert, was, at_ms))
    for labels, (alert, was) in before.items():
        if rule.active.get(labels) is not alert and was is not AlertState.INACTIVE:
            # a pending alert whose series is gone, or every alert of a rule over its limit
            out.append(_transition(rule, alert, was, at_ms, AlertState.INACTIVE))
    return out


def _transition(rule: AlertingRule, alert: Alert, was: AlertState, at_ms: int,
                now: AlertState | None = None) -> AlertTransition:
    return AlertTransition(rule.name, alert.labels, alert.annotations, alert.value, was, now or alert.state,
                           alert.active_at_ms, alert.fired_at_ms, alert.resolved_at_ms, at_ms)
