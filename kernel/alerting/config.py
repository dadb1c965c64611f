"""The alerting config (VIGIL_ALERTING_CONFIG): routes, receivers, inhibit rules, time intervals,
escalation policies and on-call schedules, read and validated once, then shared read-only.

Alertmanager's file shape (https://prometheus.io/docs/alerting/latest/configuration/) plus two Vigil
sections, `escalation_policies` and `schedules`. Strings may name environment variables as
`${NAME}` (`$${` writes a literal `${`), so secrets stay out of the file. Every error names the file,
the line and the YAML path (`route.routes[1].recevier: unknown field`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from kernel.alerting.receivers import ReceiverConfig
from kernel.alerting.templates import check_receivers
from kernel.alerting.oncall import Schedule, on_call
from kernel.alerting.routing import (DEFAULT_POLICY, DurationMs, LabelName, MatcherText, RegexText, Route,
                                       RouteSpec, build_route_tree, default_route, parse_route_matcher, walk)
from kernel.alerting.time_intervals import TimeIntervalSet, active
from kernel.matchers import Matcher
from kernel.yaml_config import ConfigFileError, Document, Loc, Yaml12Loader, read, validation_problems

_ENV = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")  # a shell variable's name, not a label's


class AlertingConfigError(ConfigFileError):
    """An alerting config that can't be used; each line names the file, line and YAML path at fault."""


class EscalationPolicy(BaseModel):
    """How long an incident may stay unacknowledged at each level, and whom each level pages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    escalate_after_ms: int = Field(900_000, ge=1000)  # New → Escalated
    critical_after_ms: int = Field(300_000, ge=1000)  # Escalated → Critical
    escalated_receivers: tuple[str, ...] = ()  # receiver or schedule names; empty: the route's receiver again
    critical_receivers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While an alert matching `source_matchers` fires, alerts matching `target_matchers` with the same
    values of the `equal` labels are not notified (Alertmanager's inhibit_rules)."""

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class AlertingConfig:
    """The validated alerting config: the route tree and everything its routes refer to."""

    route: Route
    receivers: tuple[ReceiverConfig, ...]
    inhibit_rules: tuple[InhibitRule, ...]
    time_intervals: dict[str, TimeIntervalSet]
    escalation_policies: dict[str, EscalationPolicy]  # always has "default"
    schedules: dict[str, Schedule]
    _routes: tuple[Route, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_routes", tuple(walk(self.route)))

    def resolve_target(self, name: str, at_ms: int) -> str | None:
        """schedule → who is on call (None: nobody); a receiver name → itself"""
        schedule = self.schedules.get(name)
        return name if schedule is None else on_call(schedule, at_ms)

    def policy(self, name: str) -> EscalationPolicy:
        """The escalation policy `name`; the default one for a name this config no longer has."""
        # An incident keeps its policy name across a config reload that removed it: it then escalates
        # on the default timings rather than stalling a worker.
        return self.escalation_policies.get(name) or self.escalation_policies[DEFAULT_POLICY]

    def muted(self, route: Route, at_ms: int) -> bool:
        """a mute_time_interval is active, or active_time_intervals are set and none is active"""
        if any(active(self.time_intervals[n], at_ms) for n in route.mute_time_intervals if n in self.time_intervals):
            return True
        return bool(route.active_time_intervals) and not any(
            active(self.time_intervals[n], at_ms) for n in route.active_time_intervals if n in self.time_intervals)

    def routes(self) -> list[Route]:
        """every route, depth-first"""
        return list(self._routes)

    @classmethod
    def default(cls, receiver: str) -> AlertingConfig:
        """One root route to `receiver` with Alertmanager's defaults and no receivers. (A worker without a
        file uses config_source.without_file instead: every alert its own incident, paged at once.)"""
        return cls(route=default_route(receiver), receivers=(), inhibit_rules=(), time_intervals={},
                   escalation_policies={DEFAULT_POLICY: EscalationPolicy(name=DEFAULT_POLICY)}, schedules={})


# --- the file as written --------------------------------------------------------------------------------

class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _at_least_1s(ms: int) -> int:
    if ms < 1000:
        raise ValueError("must be at least 1s")
    return ms


class _PolicySpec(_Section):
    name: str = Field(min_length=1)
    escalate_after: Annotated[DurationMs, AfterValidator(_at_least_1s)] = 900_000
    critical_after: Annotated[DurationMs, AfterValidator(_at_least_1s)] = 300_000
    escalated_receivers: tuple[str, ...] = ()
    critical_receivers: tuple[str, ...] = ()


class _InhibitSpec(_Section):
    source_matchers: tuple[MatcherText, ...] = ()
    target_matchers: tuple[MatcherText, ...] = ()
    source_match: dict[LabelName, str] = {}  # legacy forms, as Alertmanager still reads them
    source_match_re: dict[LabelName, RegexText] = {}
    target_match: dict[LabelName, str] = {}
    target_match_re: dict[LabelName, RegexText] = {}
    equal: tuple[LabelName, ...] = ()

    def build(self) -> InhibitRule:
        def side(eq: dict[str, str], regex: dict[str, str], texts: tuple[str, ...]) -> tuple[Matcher, ...]:
            return (tuple(Matcher.make(k, "=", v) for k, v in eq.items())
                    + tuple(Matcher.make(k, "=~", v) for k, v in regex.items())
                    + tuple(parse_route_matcher(t) for t in texts))

        return InhibitRule(side(self.source_match, self.source_match_re, self.source_matchers),
                           side(self.target_match, self.target_match_re, self.target_matchers), self.equal)


class _FileSpec(_Section):
    route: RouteSpec
    receivers: tuple[ReceiverConfig, ...] = ()
    inhibit_rules: tuple[_InhibitSpec, ...] = ()
    time_intervals: tuple[TimeIntervalSet, ...] = ()
    mute_time_intervals: tuple[TimeIntervalSet, ...] = ()  # Alertmanager's older name of the same section
    escalation_policies: tuple[_PolicySpec, ...] = ()
    schedules: tuple[Schedule, ...] = ()


# --- reading --------------------------------------------------------------------------------------------

def expand_env(value: object, env: Mapping[str, str], path: Loc = (), missing: list | None = None) -> object:
    """`value` with every `${NAME}` in its strings replaced from `env`; unset names are added to `missing`
    as (path, name)."""
    missing = [] if missing is None else missing
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            if m.group(1):
                return "${" + m.group(2) + "}"
            if m.group(2) not in env:
                missing.append((path, m.group(2)))
                return m.group(0)
            return env[m.group(2)]

        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, env, (*path, k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, (*path, i), missing) for i, v in enumerate(value)]
    return value


def load_alerting_config(path: Path, env: Mapping[str, str] | None = None) -> AlertingConfig:
    """Read, expand `${VARS}` from `env` (default os.environ) and validate an alerting config file."""
    document = read(path, AlertingConfigError, what="the alerting config", loader=Yaml12Loader)
    missing: list[tuple[Loc, str]] = []
    document = replace(document, data=expand_env(document.data, os.environ if env is None else env, (), missing))
    if missing:
        document.fail([(loc, f"environment variable {name} is not set (the file refers to ${{{name}}})")
                       for loc, name in missing], AlertingConfigError)
    return _parse(document)


def parse_alerting_config(raw: object, where: str) -> AlertingConfig:
    """Validate an alerting config already read from YAML/JSON; errors start with `where`."""
    return _parse(Document(where, raw))


def _parse(document: Document) -> AlertingConfig:
    raw, where = document.data, document.file
    if not isinstance(raw, dict):
        raise AlertingConfigError(f"{where}: expected a mapping with a 'route:' (Alertmanager's shape)")
    try:
        spec = _FileSpec.model_validate(raw)
    except ValidationError as exc:
        document.fail(_pydantic_problems(exc, raw), AlertingConfigError)
    intervals = [(("time_intervals", i), t) for i, t in enumerate(spec.time_intervals)] + [
        (("mute_time_intervals", i), t) for i, t in enumerate(spec.mute_time_intervals)]
    problems = list(_reference_problems(spec, intervals))
    if problems:
        document.fail(problems, AlertingConfigError)
    _check_templates(spec.receivers, where)
    policies = {p.name: EscalationPolicy(name=p.name, escalate_after_ms=p.escalate_after,
                                         critical_after_ms=p.critical_after,
                                         escalated_receivers=p.escalated_receivers,
                                         critical_receivers=p.critical_receivers)
                for p in spec.escalation_policies}
    policies.setdefault(DEFAULT_POLICY, EscalationPolicy(name=DEFAULT_POLICY))
    return AlertingConfig(route=build_route_tree(spec.route), receivers=spec.receivers,
                          inhibit_rules=tuple(r.build() for r in spec.inhibit_rules),
                          time_intervals={t.name: t for _, t in intervals}, escalation_policies=policies,
                          schedules={s.name: s for s in spec.schedules})


def _pydantic_problems(exc: ValidationError, raw: dict) -> Iterator[tuple[Loc, str]]:
    for loc, message in validation_problems(exc, raw):
        if loc in (("global",), ("templates",)) and message == "unknown field":
            message += " (an Alertmanager file? convert it with `vigil routes import`)"
        yield loc, message


def _reference_problems(spec: _FileSpec, intervals: Sequence[tuple[Loc, TimeIntervalSet]]) -> Iterator[tuple[Loc, str]]:
    """Names that must be unique, and names that must refer to something defined in the file."""
    receivers = {r.name for r in spec.receivers}
    schedules = {s.name for s in spec.schedules}
    interval_names = {t.name for _, t in intervals}
    policies = {p.name for p in spec.escalation_policies} | {DEFAULT_POLICY}
    yield from _duplicates([(("receivers", i, "name"), r.name) for i, r in enumerate(spec.receivers)], "receiver")
    yield from _duplicates([(loc + ("name",), t.name) for loc, t in intervals], "time interval")
    yield from _duplicates([(("escalation_policies", i, "name"), p.name)
                            for i, p in enumerate(spec.escalation_policies)], "escalation policy")
    yield from _duplicates([(("schedules", i, "name"), s.name) for i, s in enumerate(spec.schedules)], "schedule")
    for i, s in enumerate(spec.schedules):
        if s.name in receivers:
            yield ("schedules", i, "name"), f"'{s.name}' is also a receiver's name: a route could mean either"

    def target(loc: Loc, name: str) -> Iterator[tuple[Loc, str]]:
        if name not in receivers and name not in schedules:
            yield loc, f"'{name}' is neither a receiver nor a schedule{_known(receivers | schedules)}"

    root = spec.route
    if root.receiver is None:
        yield ("route", "receiver"), "required: the root route's receiver gets every alert no child route takes"
    for key in ("matchers", "match", "match_re"):
        if getattr(root, key):
            yield ("route", key), "the root route must not have matchers: every alert enters the tree there"
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(root, key):
            yield ("route", key), "the root route must not have time intervals (as in Alertmanager)"
    if root.continue_:
        yield ("route", "continue"), "the root route cannot have continue: it has no siblings"
    for loc, node in _route_specs(root, ("route",)):
        if node.receiver is not None:
            yield from target((*loc, "receiver"), node.receiver)
        for key in ("mute_time_intervals", "active_time_intervals"):
            for j, name in enumerate(getattr(node, key)):
                if name not in interval_names:
                    yield (*loc, key, j), f"no time interval is named '{name}'{_known(interval_names)}"
        if node.escalation_policy is not None and node.escalation_policy not in policies:
            yield (*loc, "escalation_policy"), (f"no escalation policy is named '{node.escalation_policy}'"
                                                f"{_known(policies)}")
    for i, p in enumerate(spec.escalation_policies):
        for key in ("escalated_receivers", "critical_receivers"):
            for j, name in enumerate(getattr(p, key)):
                yield from target(("escalation_policies", i, key, j), name)
    for i, s in enumerate(spec.schedules):
        members: list[tuple[Loc, str]] = [(("layers", j, "members", k), m) for j, layer in enumerate(s.layers)
                                           for k, m in enumerate(layer.members)]
        members += [(("overrides", j, "member"), o.member) for j, o in enumerate(s.overrides)]
        for loc, name in members:
            if name not in receivers:
                yield ("schedules", i, *loc), f"'{name}' is not a receiver (schedule members are receivers)"


def _route_specs(node: RouteSpec, loc: Loc) -> Iterator[tuple[Loc, RouteSpec]]:
    yield loc, node
    for i, child in enumerate(node.routes):
        yield from _route_specs(child, (*loc, "routes", i))


def _duplicates(named: list[tuple[Loc, str]], what: str) -> Iterator[tuple[Loc, str]]:
    seen: set[str] = set()
    for loc, name in named:
        if name in seen:
            yield loc, f"another {what} is already named '{name}'"
        seen.add(name)


def _known(names: set[str]) -> str:
    return f" (defined: {', '.join(sorted(names))})" if names else " (none is defined)"


def _check_templates(receivers: tuple[ReceiverConfig, ...], where: str) -> None:
    """Every receiver's templates compiled and sample-rendered, as the notifier will render them."""
    try:
        check_receivers(receivers)
    except ValueError as exc:
        raise AlertingConfigError(f"{where}: receivers: {exc}") from None
