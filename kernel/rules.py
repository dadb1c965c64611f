"""Alert rules as data: the model every rule source shares (files, API, rules topic), its
validation with errors that name the field, and the index that picks a sample's rules.

One shape for every rule type, named after the PromQL function it mirrors, so a Prometheus
rule file maps onto it directly (see streams/promql_import.py):

    threshold            metric{matchers} op threshold
    rate/increase/deriv  rate(metric{matchers}[window]) op threshold
    *_over_time          avg/min/max/sum/count/quantile_over_time(metric{matchers}[window]) op threshold
    absent               nothing arrived for `absent_for` (per series, per `by` group, or for the selector)
    anomaly              the online model's score for the series op threshold (after `warmup` samples)

Those are evaluated by the *stream* evaluator, per sample (streams/engine.py). A rule with
`evaluator: query` is a Prometheus rule kept as it is: an alerting (`alert`, `expr`, `for`,
`keep_firing_for`, `labels`, `annotations`) or recording (`record`, `expr`, `labels`) rule of a
`group`, evaluated with PromQL against the time-series store at the group's interval (streams/query/).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from kernel.gotemplate import TemplateError as GoTemplateError, check as check_go_template
from kernel.promql import PromQLError, parse as parse_promql
from kernel.matchers import Matcher, MatcherError, parse_matcher
from kernel.names import LABEL_NAME_SYNTAX, METRIC_NAME_SYNTAX, is_label_name, is_metric_name
from kernel.rule_template import TemplateError, validate_template
from kernel.yaml_config import ConfigFileError, Loc, key_path, read, validation_problems as file_problems

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")

RuleType = Literal["threshold", "rate", "increase", "deriv", "avg_over_time", "min_over_time", "max_over_time",
                   "sum_over_time", "count_over_time", "quantile_over_time", "absent", "anomaly"]
WINDOW_TYPES = frozenset({"rate", "increase", "deriv", "avg_over_time", "min_over_time", "max_over_time",
                          "sum_over_time", "count_over_time", "quantile_over_time"})
MAX_WINDOW_S = 24 * 3600
MAX_WINDOW_SAMPLES = 10_000
Evaluator = Literal["stream", "query"]
DEFAULT_GROUP_INTERVAL_S = 15.0
MIN_GROUP_INTERVAL_S = 1.0
# promql-parser overflows the native stack (a crash, not an exception) near 10,000 nesting levels; every
# level takes at least two characters, so this bound keeps any expression below it (public rules: < 1,500).
MAX_EXPR_CHARS = 16 * 1024
# Fields only the stream evaluator reads: a query rule refuses them rather than silently ignoring them.
STREAM_FIELDS = ("type", "metric", "match", "matchers", "op", "threshold", "window_s", "quantile", "absent_for_s",
                 "by", "warmup")


class RuleError(ConfigFileError):
    """A rule that can't be used; the message names the file and line (or the request) and the rule's field."""


def parse_duration(value: str | int | float) -> float:
    """Seconds from a Prometheus-style duration ("90s", "5m", "1h30m", "250ms", "1d") or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"duration {value} is negative")
        return float(value)
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration like 30s, 5m, 1h30m or 250ms")
    d, h, m, s, ms = (int(g) if g else 0 for g in match.groups())
    return d * 86400 + h * 3600 + m * 60 + s + ms / 1000


class QueryGroup(BaseModel):
    """The Prometheus rule group of a query rule: its rules run together, in `position` order, every `interval`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=256)
    interval_s: float = Field(DEFAULT_GROUP_INTERVAL_S, alias="interval")
    limit: int = Field(0, ge=0, description="at most this many alerts or recorded series per rule (0: no limit)")
    labels: dict[str, str] = Field({}, description="added to every rule of the group (the rule's own win)")
    position: int = Field(0, ge=0, description="the rule's place in its group: rules are evaluated in this order")

    @field_validator("interval_s", mode="before")
    @classmethod
    def _interval(cls, v):
        seconds = parse_duration(v)
        if not MIN_GROUP_INTERVAL_S <= seconds <= MAX_WINDOW_S:
            raise ValueError(f"between {MIN_GROUP_INTERVAL_S:g}s and 24h, got {seconds:g}s")
        return seconds

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not is_label_name(name) or name == "__name__":
                raise ValueError(f"'{name}' is not a valid label name ({LABEL_NAME_SYNTAX})")
        return v


class Rule(BaseModel):
    """One alert rule of any type; `version` is set by the rule store, never by the author."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    evaluator: Evaluator = Field("stream", description="stream: per sample, one series at a time; query: PromQL "
                                                       "against the time-series store at the group's interval")
    # Any text Prometheus accepts as an alert name (it becomes the `alertname` label's value).
    alert: str | None = Field(None, min_length=1, max_length=1024)
    record: str | None = Field(None, description="query rules: the series a recording rule writes")
    expr: str | None = Field(None, description="query rules: the PromQL expression")
    group: QueryGroup | None = Field(None, description="query rules: the group (default: one of its own, 15s)")
    type: RuleType = "threshold"
    metric: str | None = None
    match: dict[str, str] = Field({}, description="equality matchers, shorthand for matchers name=\"value\"")
    matchers: tuple[str, ...] = Field((), description='Prometheus matchers: name="v", name!="v", name=~"re", name!~"re"')
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float | None = None
    for_s: float = Field(0.0, alias="for")
    keep_firing_for_s: float = Field(0.0, alias="keep_firing_for")
    window_s: float | None = Field(None, alias="window")
    quantile: float | None = Field(None, ge=0, le=1)
    absent_for_s: float | None = Field(None, alias="absent_for")
    by: tuple[str, ...] | None = Field(None, description="absent: one alert per group of these labels")
    warmup: int = Field(30, ge=1, le=100_000, description="anomaly: samples the model learns before it scores")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    version: int = Field(1, ge=1)

    @field_validator("metric", "record")
    @classmethod
    def _metric_name(cls, v: str | None) -> str | None:
        if v is not None and not is_metric_name(v):
            raise ValueError(f"'{v}' is not a valid metric name ({METRIC_NAME_SYNTAX})")
        return v

    @field_validator("labels", mode="before")
    @classmethod
    def _empty_label_values(cls, v):
        # `labels: {job_name: }` is YAML null: Prometheus reads it as "" and drops the label.
        return {k: "" if value is None else value for k, value in v.items()} if isinstance(v, dict) else v

    @field_validator("match", "labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not is_label_name(name):
                raise ValueError(f"'{name}' is not a valid label name ({LABEL_NAME_SYNTAX})")
        return v

    @field_validator("by")
    @classmethod
    def _by_names(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in v or ():
            if not is_label_name(name):
                raise ValueError(f"'{name}' is not a valid label name ({LABEL_NAME_SYNTAX})")
        return v

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, text in enumerate(v):
            try:
                parse_matcher(text)
            except MatcherError as exc:
                raise ValueError(f"matchers[{i}]: {exc}") from None
        return v

    @field_validator("for_s", "keep_firing_for_s", "window_s", "absent_for_s", mode="before")
    @classmethod
    def _duration(cls, v):
        return None if v is None else parse_duration(v)

    @field_validator("labels", "annotations")
    @classmethod
    def _templates(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        query = info.data.get("evaluator") == "query"
        if query and info.data.get("record") is not None:
            return v  # a recording rule's labels are literal text (Prometheus does not expand them)
        for key, text in v.items():
            try:
                if query:
                    check_go_template(text)  # Prometheus' Go text/template, as the query evaluator runs it
                else:
                    validate_template(text)
            except (TemplateError, GoTemplateError) as exc:
                raise ValueError(f"template of '{key}': {exc}") from None
        return v

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> Rule:
        """Each type takes the fields it uses and refuses the ones it would silently ignore."""
        if self.evaluator == "query":
            return self._query_fields()
        for name in ("record", "expr", "group"):
            if getattr(self, name) is not None:
                raise ValueError(f"{name}: only query rules (evaluator: query) take it")
        if self.alert is None:
            raise ValueError("alert: a stream rule needs an alert name")
        if self.metric is None:
            raise ValueError("metric: a stream rule needs the metric it watches")
        t = self.type
        if t == "absent":
            if not self.absent_for_s:
                raise ValueError("absent_for: an absent rule needs absent_for (e.g. 5m), more than 0")
            for name, value in (("threshold", self.threshold), ("window", self.window_s)):
                if value is not None:
                    raise ValueError(f"{name}: an absent rule has no {name}; it fires when nothing arrives "
                                     "for absent_for")
            return self
        if self.absent_for_s is not None or self.by is not None:
            raise ValueError(f"{'absent_for' if self.absent_for_s is not None else 'by'}: only absent rules take it")
        if self.threshold is None:
            raise ValueError(f"threshold: a {t} rule needs a threshold to compare with")
        if not math.isfinite(self.threshold):
            raise ValueError("threshold: must be a finite number")
        if t in WINDOW_TYPES:
            if not self.window_s:
                raise ValueError(f"window: a {t} rule needs a window (e.g. 5m), more than 0")
            if self.window_s > MAX_WINDOW_S:
                raise ValueError(f"window: at most {MAX_WINDOW_S // 3600}h")
        elif self.window_s is not None:
            raise ValueError(f"window: a {t} rule has no window")
        if (t == "quantile_over_time") != (self.quantile is not None):
            raise ValueError("quantile: needed by quantile_over_time (0..1), and by no other type")
        return self

    def _query_fields(self) -> Rule:
        """A Prometheus rule: `alert` or `record`, a PromQL `expr`, and no stream-only field."""
        for name in STREAM_FIELDS:
            if name in self.model_fields_set:
                field = Rule.model_fields[name].alias or name
                raise ValueError(f"{field}: a query rule has no {field}; its condition is `expr` (PromQL)")
        if (self.alert is None) == (self.record is None):
            raise ValueError("alert: a query rule has exactly one of 'alert' (alerting) or 'record' (recording)")
        if not self.expr or not self.expr.strip():
            raise ValueError("expr: a query rule needs a PromQL expression")
        if len(self.expr) > MAX_EXPR_CHARS:
            raise ValueError(f"expr: longer than {MAX_EXPR_CHARS} characters")
        try:
            parse_promql(self.expr)
        except PromQLError as exc:
            raise ValueError(f"expr: not valid PromQL: {exc}") from None
        except RecursionError:
            raise ValueError("expr: nests too deeply") from None
        if self.record is not None:
            for name in ("for_s", "keep_firing_for_s"):
                if getattr(self, name):
                    field = Rule.model_fields[name].alias or name
                    raise ValueError(f"{field}: a recording rule has no {field}")
            if self.annotations:
                raise ValueError("annotations: a recording rule has no annotations")
        if "__name__" in self.labels:
            raise ValueError("labels: '__name__' is not a label a rule may set")
        return self

    @property
    def name(self) -> str:
        """The alert name, or the recorded series' name of a recording rule."""
        return self.alert if self.alert is not None else (self.record or "")

    def query_group(self) -> QueryGroup:
        """The group a query rule is evaluated in (its own one-rule group when it names none)."""
        return self.group if self.group is not None else QueryGroup(name=self.id)

    def selectors(self) -> tuple[Matcher, ...]:
        """Every matcher of the rule: `match` equalities first, then `matchers`."""
        cached = self.__dict__.get("_selectors")
        if cached is None:
            cached = tuple(Matcher.make(k, "=", v) for k, v in self.match.items()) + tuple(
                parse_matcher(text) for text in self.matchers)
            self.__dict__["_selectors"] = cached
        return cached

    def matches(self, labels: dict[str, str]) -> bool:
        """True when every matcher holds on the series labels."""
        return all(m.matches(labels) for m in self.selectors())

    def spec(self) -> dict:
        """The rule as its author writes it (durations in seconds, no version), for the store and topic."""
        body = self.model_dump(by_alias=True, exclude={"version"}, exclude_defaults=True)
        body["id"] = self.id
        if self.evaluator == "stream":
            body.update(alert=self.alert, metric=self.metric)
        return body

    def spec_json(self) -> str:
        """`spec()` as canonical JSON: equal rules give equal strings."""
        return json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as `field: reason; field: reason` (rule-level checks already name their field)."""
    problems = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = ".".join(str(p) for p in e["loc"])
        problems.append(f"{where}: {msg}" if where and not msg.startswith(f"{where}[") else msg)
    return "; ".join(problems)


def parse_rule(raw: object, where: str) -> Rule:
    """Validate one rule; RuleError starts with `where` (file and index, or request)."""
    try:
        return Rule.model_validate(raw)
    except ValidationError as exc:
        raise RuleError(f"{where}: {validation_problems(exc)}") from None


class RuleIndex:
    """Stream rules by metric name, so a sample costs work only for the rules on its own metric; query rules apart.

    `rules`, `by_id` and the lookups hold stream rules only (what streams/engine.py evaluates): a rule
    that moves to the query evaluator leaves them, so its stream alerts resolve as for a deleted rule.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        every = list(rules)
        self.rules = [r for r in every if r.evaluator == "stream"]
        self.query_rules = [r for r in every if r.evaluator == "query"]
        self.by_id = {r.id: r for r in self.rules}
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.metric is not None:  # every stream rule names its metric (validated)
                self._by_metric.setdefault(rule.metric, []).append(rule)

    def for_metric(self, name: str) -> list[Rule]:
        """The rules on metric `name` (the same list object while the index lives)."""
        return self._by_metric.get(name, [])

    def of_type(self, kind: str) -> list[Rule]:
        """Every rule of one type (the timers walk the absent rules)."""
        return [r for r in self.rules if r.type == kind]

    def __len__(self) -> int:
        return len(self.rules) + len(self.query_rules)


def load_rules(path: Path) -> RuleIndex:
    """Read and validate a rules file; RuleError names the file, rule and field at fault."""
    return RuleIndex(read_rules_file(path))


def read_rules_file(path: Path) -> list[Rule]:
    """The rules of a Vigil rules file (`rules: [...]`), every one validated; RuleError lists every mistake
    as `FILE:LINE: rules[3].field: reason`."""
    document = read(path, RuleError, what="rules file")
    if not isinstance(document.data, dict) or not isinstance(document.data.get("rules"), list):
        raise RuleError(f"{path}: expected a mapping with a 'rules:' list")
    rules: list[Rule] = []
    problems: list[tuple[Loc, str]] = []
    first: dict[str, Loc] = {}
    for i, raw in enumerate(document.data["rules"]):
        at = ("rules", i)
        if isinstance(raw, dict) and "version" in raw:
            problems.append(((*at, "version"), "set by the rule store, not in a rules file"))
            continue
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            problems += rule_problems(exc, raw, at)
            continue
        if rule.id in first:
            problems.append(((*at, "id"), f"'{rule.id}' is used by an earlier rule ({key_path(first[rule.id])})"))
            continue
        first[rule.id] = at
        rules.append(rule)
    if problems:
        document.fail(problems, RuleError)
    return rules


_NAMED_FIELD = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?: (.*)$", re.DOTALL)
_TEMPLATE_OF = re.compile(r"^template of '(.+?)': (.*)$", re.DOTALL)
_FIELDS = frozenset(f.alias or name for name, f in Rule.model_fields.items())


def rule_problems(exc: ValidationError, raw: object, at: Loc = ()) -> list[tuple[Loc, str]]:
    """Pydantic's errors on one rule found at `at` in a file, as (key path, reason). The rule's own checks
    name the field in their message (`window: a rate rule needs a window`, `template of 's': …`): the path
    takes it, so the line is the field's."""
    problems = []
    for loc, reason in file_problems(exc, raw, at):
        inside = loc[len(at):]
        named = _NAMED_FIELD.match(reason)
        if named and named.group(1) in _FIELDS and inside in ((), (named.group(1),)):
            loc = (*at, named.group(1), *([int(named.group(2))] if named.group(2) else []))
            inside, reason = loc[len(at):], named.group(3)
        template = _TEMPLATE_OF.match(reason)
        if template and inside in (("labels",), ("annotations",)):
            loc, reason = (*loc, template.group(1)), template.group(2)
        problems.append((loc, reason))
    return problems
