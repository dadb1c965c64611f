"""Prometheus rule files → Vigil rules: every alerting and recording rule, each on the evaluator that fits it.

The file format is Prometheus' (https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/).
A rule whose condition Vigil can evaluate one series at a time, per sample, becomes a *stream* rule
(sub-second, no store round trip); PromQL is parsed by promql-parser (Prometheus' grammar) to decide:

    selector OP number, number OP selector              → threshold
    rate|increase|deriv(selector[w]) OP number          → that type, window w
    avg|min|max|sum|count_over_time(selector[w]) OP n   → that type, window w
    quantile_over_time(q, selector[w]) OP number        → quantile_over_time, quantile q
    absent(selector)                                    → absent for the rule's `for` (default: one evaluation interval)
    absent_over_time(selector[w])                       → absent for w

Every other rule (aggregations, arithmetic between series, set operators, vector matching, offset,
subqueries, other functions, Go templates beyond the stream templates) and every recording rule
becomes a *query* rule: kept as written and evaluated with Prometheus' semantics against the
time-series store at its group's interval (streams/query/). Each imported rule says which evaluator
and why; a rule neither can take (bad PromQL, a bad template, a malformed rule) is a Problem that
names the field, and the other rules still import.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser as promql
from pydantic import ValidationError

from kernel.rules import WINDOW_TYPES, Rule, RuleError, validation_problems
from kernel.yaml_config import read

# The parser recurses per nesting level and overflows the native stack (a crash, not an exception)
# near 10,000 levels; a condition Vigil can evaluate is a selector and a number, far below this.
MAX_EXPR_CHARS = 4096
DEFAULT_INTERVAL_S = 60.0  # Prometheus' default evaluation_interval: how late absent() fires with no `for`
MAX_ID_LEN = 128

_RULE_KEYS = ("alert", "expr", "for", "keep_firing_for", "labels", "annotations", "record")
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
_SET_OPERATORS = frozenset({"and", "or", "unless"})
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_ABSENT = ("absent", "absent_over_time")
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": math.fmod,
               "^": math.pow, "atan2": math.atan2}  # folded when both sides are numbers, as in `86400 * 14`
# Validation errors on these fields come from the expression; on the others, from the rest of the rule.
_EXPR_FIELDS = frozenset({"type", "metric", "match", "matchers", "op", "threshold", "window", "quantile", "by"})
_TEMPLATE_PROBLEM = re.compile(r"(labels|annotations)[.:]? (?:template of )?'?([^':]+)'?:")
_NOT_ID = re.compile(r"[^a-z0-9._]+")  # runs of these, and of '-', become one '-'
# Prometheus' model.ParseDuration: units in this order, each at most once; "0" alone is allowed.
_DURATION = re.compile(r"^0$|^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


STREAM_WHY = "one series at a time: evaluated per sample, sub-second"


@dataclass(frozen=True)
class Problem:
    """One rule that was not imported, and why."""

    where: str  # file, group and rule: "rules.yml: groups[0] (node) rules[3] (HostDown)"
    expr: str  # the PromQL expression, or "" when the problem is elsewhere in the rule
    reason: str


@dataclass(frozen=True)
class Translation:
    """What a Prometheus rule file gives: the rules that import (with why their evaluator), the ones that don't."""

    rules: list[Rule]
    problems: list[Problem]
    why: dict[str, str] = field(default_factory=dict)  # rule id → why it runs on its evaluator
    alerting: int = 0  # alerting rules in the file (imported or not)
    recording: int = 0  # recording rules in the file (imported or not)

    @property
    def total(self) -> int:
        """Rules in the file (the import rate's denominator; malformed groups' rules are not counted)."""
        return self.alerting + self.recording

    def imported(self, kind: str) -> int:
        """How many `alerting` or `recording` rules imported."""
        recording = kind == "recording"
        return sum((r.record is not None) == recording for r in self.rules)


class _NotImported(Exception):
    """A rule outside what Vigil imports; `expr` is set when the expression is the reason.

    `short` is the construct in a few words (`sum by (job) (…): aggregation across series`): why a rule
    goes to the query evaluator when the stream evaluator can't take it.
    """

    def __init__(self, reason: str, expr: str = "", short: str = "") -> None:
        super().__init__(reason)
        self.reason, self.expr, self.short = reason, expr, short or reason.split(" is not supported")[0]


def translate_file(path: Path) -> Translation:
    """Read and translate a Prometheus rule file; RuleError when it can't be read or isn't one."""
    return translate(read(path, RuleError, what="rule file").data, str(path))


def translate(document: object, source: str) -> Translation:
    """Translate a parsed Prometheus rule file (`groups: [{name, rules: [...]}]`); `source` prefixes every `where`."""
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise RuleError(f"{source}: expected a Prometheus rule file: a mapping with a 'groups:' list")
    rules: list[Rule] = []
    problems: list[Problem] = []
    why: dict[str, str] = {}
    counts = {"alerting": 0, "recording": 0}
    ids: set[str] = set()
    for g, group in enumerate(document["groups"]):
        name = group.get("name") if isinstance(group, dict) else None
        group_where = f"{source}: groups[{g}]" + (f" ({name})" if name else "")
        try:
            settings = _group_settings(group)
        except _NotImported as exc:
            problems.append(Problem(group_where, "", exc.reason))
            continue
        for r, raw in enumerate(group["rules"] or []):
            recording = isinstance(raw, dict) and "record" in raw and "alert" not in raw
            counts["recording" if recording else "alerting"] += 1
            title = raw.get("record" if recording else "alert") if isinstance(raw, dict) else None
            where = f"{group_where} rules[{r}]" + (f" ({title})" if title else "")
            try:
                rule, reason = _rule(raw, settings, r, f"{name or ''}-{title}", ids)
            except _NotImported as exc:
                problems.append(Problem(where, exc.expr, exc.reason))
                continue
            ids.add(rule.id)
            rules.append(rule)
            why[rule.id] = reason
    return Translation(rules, problems, why, counts["alerting"], counts["recording"])


@dataclass(frozen=True)
class _GroupSettings:
    name: str
    interval_s: float | None  # None: not set in the file
    limit: int
    labels: dict


def _group_settings(group: object) -> _GroupSettings:
    """The group's name, evaluation interval (seconds), limit and labels, checking its shape."""
    if isinstance(group, dict) and "rules" in group and group["rules"] is None:
        group = {**group, "rules": []}  # `rules:` with nothing under it: an empty group, as Prometheus reads it
    if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
        raise _NotImported("a group is a mapping with a name and a 'rules:' list")
    interval = group.get("interval")
    interval_s = None if interval is None else (_seconds(interval, "interval") or None)
    limit = group.get("limit") or 0
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise _NotImported(f"limit: '{limit}' is not a whole number of alerts or series (0: no limit)")
    labels = group.get("labels") or {}
    if not isinstance(labels, dict):
        raise _NotImported("labels: a mapping of label names to values")
    return _GroupSettings(str(group.get("name") or ""), interval_s, limit, _texts(labels))


def _rule(raw: object, group: _GroupSettings, position: int, title: str, ids: set[str]) -> tuple[Rule, str]:
    """One Prometheus rule as a Vigil rule and why its evaluator: stream when it can, else query."""
    if isinstance(raw, dict) and "record" in raw and "alert" not in raw:
        rule = _query_rule(raw, group, position, title, ids)
        return rule, f"query every {_every(rule)} (a recording rule)"
    try:
        body, expr = _alert(raw, group.interval_s or DEFAULT_INTERVAL_S, group.labels)
        body["id"] = _unique_id(title, ids)
        return _validated(body, expr), f"stream ({STREAM_WHY})"
    except _NotImported as stream_refusal:
        if not isinstance(raw, dict) or "alert" not in raw or "record" in raw or "expr" not in raw:
            raise  # not a well-formed alerting rule: neither evaluator takes it
        rule = _query_rule(raw, group, position, title, ids)
        return rule, f"query every {_every(rule)} ({stream_refusal.short})"


def _every(rule: Rule) -> str:
    seconds = rule.query_group().interval_s
    return f"{seconds:g}s" if seconds < 60 or seconds % 60 else f"{seconds / 60:g}m"


def _query_rule(raw: dict, group: _GroupSettings, position: int, title: str, ids: set[str]) -> Rule:
    """The rule as written, for the query evaluator (Prometheus' own semantics, Go templates)."""
    unknown = [str(k) for k in raw if k not in _RULE_KEYS]
    if unknown:
        raise _NotImported(f"{unknown[0]}: not a field of a Prometheus rule ({', '.join(_RULE_KEYS)})")
    expr = raw.get("expr")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = str(expr)
    if not isinstance(expr, str) or not expr.strip():
        raise _NotImported("expr: missing; a rule needs a PromQL expression")
    kind = "record" if "record" in raw else "alert"
    body: dict = {"evaluator": "query", kind: _text(raw[kind]), "expr": expr, "id": _unique_id(title, ids)}
    for key in ("for", "keep_firing_for"):
        if raw.get(key) is not None:
            body[key] = _seconds(raw[key], key)
    for key in ("labels", "annotations"):
        value = raw.get(key) or {}
        if value:
            body[key] = _texts(value) if isinstance(value, dict) else value
    group_body: dict = {"name": group.name or body["id"], "position": position}
    if group.interval_s is not None:
        group_body["interval"] = group.interval_s
    if group.limit:
        group_body["limit"] = group.limit
    if group.labels:
        group_body["labels"] = group.labels
    body["group"] = group_body
    try:
        return Rule.model_validate(body)
    except ValidationError as exc:
        from_expr = any(e["loc"] and e["loc"][0] == "expr" for e in exc.errors()) or "expr:" in str(exc)
        raise _NotImported(validation_problems(exc).removeprefix("rule: "), expr if from_expr else "") from None


def _alert(raw: object, interval_s: float, group_labels: dict) -> tuple[dict, str]:
    """The Vigil rule fields of one Prometheus alerting rule, before validation, and its expression."""
    if not isinstance(raw, dict):
        raise _NotImported("a rule is a mapping with 'alert' (or 'record') and 'expr'")
    unknown = [str(k) for k in raw if k not in _RULE_KEYS]
    if unknown:
        raise _NotImported(f"{unknown[0]}: not a field of a Prometheus alerting rule ({', '.join(_RULE_KEYS[:-1])})")
    if "record" in raw:
        raise _NotImported("a rule has 'alert' or 'record', not both")
    if "alert" not in raw:
        raise _NotImported("alert: missing; an alerting rule needs a name (a recording rule has 'record')")
    expr = raw.get("expr")
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = str(expr)
    if not isinstance(expr, str) or not expr.strip():
        raise _NotImported("expr: missing; an alerting rule needs a PromQL expression")
    try:
        body = {"alert": raw["alert"], **_expression(expr)}
    except _NotImported as exc:
        raise _NotImported(exc.reason, expr, exc.short) from None
    for_s = _seconds(raw["for"], "for") if raw.get("for") is not None else None
    if body["type"] == "absent" and "absent_for" not in body:
        body["absent_for"] = for_s or interval_s  # absent(): `for` is how long nothing arrived
    elif for_s is not None:
        body["for"] = for_s
    if raw.get("keep_firing_for") is not None:
        body["keep_firing_for"] = _seconds(raw["keep_firing_for"], "keep_firing_for")
    labels = raw.get("labels") or {}
    if isinstance(labels, dict):  # an empty value removes the label in Prometheus: leave it out
        labels = {k: v for k, v in {**group_labels, **_texts(labels)}.items() if v != ""}
    body["labels"] = labels
    annotations = raw.get("annotations") or {}
    body["annotations"] = _texts(annotations) if isinstance(annotations, dict) else annotations
    return body, expr


def _validated(body: dict, expr: str) -> Rule:
    """The Rule, or _NotImported with Vigil's validation message (and the expression when it is at fault)."""
    try:
        return Rule.model_validate(body)
    except ValidationError as exc:
        from_expr = any(not e["loc"] or e["loc"][0] in _EXPR_FIELDS for e in exc.errors())
        reason = validation_problems(exc).removeprefix("rule: ")  # model-level messages start with their field
        template = _TEMPLATE_PROBLEM.search(reason)
        short = f"{template.group(1)}.{template.group(2)}: a Go template the stream templates lack" if template else ""
        raise _NotImported(reason, expr if from_expr else "", short) from None


def _expression(text: str) -> dict:
    """The Vigil rule fields (type, metric, matchers, op, threshold, window…) of one PromQL alert condition."""
    if len(text) > MAX_EXPR_CHARS:
        raise _NotImported(f"the expression is longer than {MAX_EXPR_CHARS} characters")
    try:
        node = _unwrap(promql.parse(text))
        if isinstance(node, promql.BinaryExpr):
            return _comparison(node)
        if isinstance(node, promql.Call) and node.func.name in _ABSENT:
            return _absent(node)
        _series(node)  # says what is wrong with it first, if anything
        raise _NotImported("an expression without a comparison fires for every series it returns: write it as "
                           "a comparison with a number (e.g. 'x > 0')", short="no comparison: every series it "
                                                                              "returns is an alert")
    except ValueError as exc:  # the parser's syntax errors, and a UnicodeEncodeError for text Rust can't take
        raise _NotImported(f"not valid PromQL: {exc}") from None
    except RecursionError:
        raise _NotImported("the expression nests too deeply to be one Vigil evaluates") from None
    except BaseException as exc:
        # The parser panics (PanicException, a BaseException) on durations out of range, e.g. x[1e400].
        if type(exc).__name__ != "PanicException":
            raise
        raise _NotImported(f"not valid PromQL: {exc}") from None


def _comparison(node: promql.BinaryExpr) -> dict:
    op = str(node.op).strip()
    if op not in _FLIPPED or _matching(node):
        raise _NotImported(_construct(node), short=_short(node))
    if node.modifier is not None and node.modifier.return_bool:
        raise _NotImported(f"'{op} bool' is not supported: it turns every series into 0 or 1 instead of "
                           "filtering; drop 'bool'")
    left, right = _number(node.lhs), _number(node.rhs)
    if right is not None and left is None:
        series, threshold = node.lhs, right
    elif left is not None and right is None:
        series, threshold, op = node.rhs, left, _FLIPPED[op]
    else:
        raise _NotImported(f"comparing two expressions ({_show(node)}) is not supported: "
                           "Vigil compares one series with a number", short=f"{_clip(node)}: compares two series")
    if math.isnan(threshold):
        raise _NotImported(f"comparing with NaN is not supported: '{op} NaN' "
                           f"{'always' if op == '!=' else 'never'} holds")
    series = _unwrap(series)
    if isinstance(series, promql.Call) and series.func.name in _ABSENT:
        raise _NotImported(f"{series.func.name}() compared with a number is not supported: "
                           f"use {series.func.name}(selector) alone")
    return {**_series(series), "op": op, "threshold": threshold}


def _absent(node: promql.Call) -> dict:
    name, arg = node.func.name, _unwrap(node.args[0])
    if name == "absent":
        if not isinstance(arg, promql.VectorSelector):
            raise _NotImported(f"absent() of {_kind(arg)} is not supported: Vigil's absent watches a selector "
                               "such as absent(up{job=\"api\"})")
        return {"type": "absent", "by": [], **_selector(arg)}
    selector = _range(arg)
    return {"type": "absent", "by": [], "absent_for": selector.pop("window"), **selector}


def _series(node: object) -> dict:
    """Fields of the series side of a condition: a selector, or a supported function of one."""
    node = _unwrap(node)
    if isinstance(node, promql.VectorSelector):
        return {"type": "threshold", **_selector(node)}
    if isinstance(node, promql.Call):
        name = node.func.name
        if name in WINDOW_TYPES and name != "quantile_over_time":
            return {"type": name, **_range(node.args[0])}
        if name == "quantile_over_time":
            quantile = _number(node.args[0])
            if quantile is None:
                raise _NotImported("quantile_over_time needs a number as its quantile, e.g. "
                                   "quantile_over_time(0.95, metric[5m])")
            return {"type": name, "quantile": quantile, **_range(node.args[1])}
    raise _NotImported(_construct(node), short=_short(node))


def _range(node: object) -> dict:
    node = _unwrap(node)
    if isinstance(node, promql.SubqueryExpr):
        raise _NotImported(_construct(node), short=_short(node))
    if not isinstance(node, promql.MatrixSelector):
        raise _NotImported(f"expected a range selector such as metric[5m], found {_kind(node)}")
    return {**_selector(node.vector_selector), "window": node.range.total_seconds()}


def _selector(node: promql.VectorSelector) -> dict:
    """metric, match (equalities) and matchers (the rest) of one selector."""
    if node.offset is not None:
        raise _NotImported("the 'offset' modifier is not supported: Vigil evaluates samples as they arrive")
    if node.at is not None:
        raise _NotImported("the '@' modifier is not supported: Vigil evaluates samples as they arrive")
    if node.matchers.or_matchers:
        raise _NotImported("'or' between label matchers is not supported: write one rule per alternative")
    metric, match, matchers = node.name, {}, []
    for m in node.matchers.matchers:
        op = _MATCH_OPS[str(m.op)]
        if m.name == "__name__":
            if op == "=" and metric is None:
                metric = m.value
                continue
            raise _NotImported(f"the matcher __name__{op}{json.dumps(m.value)} is not supported: "
                               "a Vigil rule is on one metric name")
        if op == "=" and m.name not in match:
            match[m.name] = m.value
        else:
            matchers.append(f"{m.name}{op}{json.dumps(m.value)}")
    if metric is None:
        raise _NotImported(f"the selector {_show(node)} has no metric name: a Vigil rule is on one metric name")
    fields: dict = {"metric": metric}
    if match:
        fields["match"] = match
    if matchers:
        fields["matchers"] = matchers
    return fields


def _construct(node: object) -> str:
    """Why an expression is outside the subset, naming the PromQL construct."""
    if isinstance(node, promql.AggregateExpr):
        grouping = ""
        if node.modifier is not None:
            word = "by" if node.modifier.type == promql.AggModifierType.By else "without"
            grouping = f" {word} ({', '.join(node.modifier.labels)})"
        return f"{node.op}{grouping}(...) aggregation is not supported: Vigil evaluates one series at a time"
    if isinstance(node, promql.BinaryExpr):
        op = str(node.op).strip()
        if (matching := _matching(node)) is not None:
            return f"'{matching}' vector matching is not supported: Vigil evaluates one series at a time"
        if op in _SET_OPERATORS:
            return f"the '{op}' set operator is not supported: a Vigil rule is one condition on one series"
        if op in _FLIPPED:
            return f"a comparison inside another expression ({_show(node)}) is not supported"
        return f"arithmetic '{op}' is not supported: Vigil compares one series with a number"
    if isinstance(node, promql.SubqueryExpr):
        return f"the subquery {_show(node)} is not supported: Vigil windows the raw samples of one series"
    if isinstance(node, promql.UnaryExpr):
        return f"negating a series ({_show(node)}) is not supported: compare with the negated number instead"
    if isinstance(node, promql.Call):
        return (f"{node.func.name}() is not supported: Vigil evaluates rate, increase, deriv, *_over_time and "
                "absent of a selector")
    return f"{_kind(node)} is not an alert condition on a series"


def _short(node: object) -> str:
    """The construct in a few words, for why a rule runs on the query evaluator."""
    if isinstance(node, promql.AggregateExpr):
        return f"{_clip(node)}: aggregation across series"
    if isinstance(node, promql.BinaryExpr):
        op = str(node.op).strip()
        if (matching := _matching(node)) is not None:
            return f"{_clip(node)}: '{matching}' vector matching"
        if op in _SET_OPERATORS:
            return f"{_clip(node)}: '{op}' between series"
        if op in _FLIPPED:
            return f"{_clip(node)}: a comparison inside an expression"
        return f"{_clip(node)}: arithmetic '{op}' on series"
    if isinstance(node, promql.SubqueryExpr):
        return f"{_clip(node)}: a subquery"
    if isinstance(node, promql.UnaryExpr):
        return f"{_clip(node)}: a negated series"
    if isinstance(node, promql.Call):
        return f"{node.func.name}(): a function the stream evaluator lacks"
    return _kind(node)


def _clip(node: object, limit: int = 40) -> str:
    """The node's PromQL, cut to `limit` characters with an ellipsis."""
    text = _show(node)
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _matching(node: promql.BinaryExpr) -> str | None:
    """`on(a, b)` / `ignoring(a)` of a binary expression, or None."""
    matching = node.modifier.matching if node.modifier is not None else None
    if matching is None:
        return None
    word = "on" if matching.type == promql.LabelModifierType.Include else "ignoring"
    return f"{word}({', '.join(matching.labels)})"


def _kind(node: object) -> str:
    names = {promql.NumberLiteral: "a number", promql.StringLiteral: "a string", promql.UnaryExpr: "a negation",
             promql.MatrixSelector: "a range selector", promql.VectorSelector: "a selector"}
    for cls, name in names.items():
        if isinstance(node, cls):
            return f"{name} ({_show(node)})"
    return f"the expression {_show(node)}"


def _show(node: object) -> str:
    """The parser's PromQL for a node, without the `{}` it adds to bare metric names."""
    return str(node).replace("{}", "")


def _unwrap(node: object) -> object:
    while isinstance(node, promql.ParenExpr):
        node = node.expr
    return node


def _number(node: object) -> float | None:
    """The value of a number expression (`5`, `-(2)`, `86400 * 14`), else None."""
    node = _unwrap(node)
    if isinstance(node, promql.NumberLiteral):
        return node.val
    if isinstance(node, promql.UnaryExpr):
        inner = _number(node.expr)
        return None if inner is None else -inner
    if isinstance(node, promql.BinaryExpr) and (op := str(node.op).strip()) in _ARITHMETIC:
        left, right = _number(node.lhs), _number(node.rhs)
        if left is not None and right is not None:
            return _arithmetic(op, left, right)
    return None


def _arithmetic(op: str, a: float, b: float) -> float:
    """`a op b` with IEEE results where Python raises (x/0 → ±Inf, 0/0 → NaN), as Prometheus computes it."""
    try:
        return _ARITHMETIC[op](a, b)
    except ZeroDivisionError:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    except OverflowError:  # only ^ overflows: the sign is the base's for odd integer exponents
        return -math.inf if a < 0 and b % 2 == 1 else math.inf
    except ValueError:  # fmod by 0 or of ±Inf, a fractional power of a negative number, 0 to a negative power
        return math.inf if op == "^" and a == 0 else math.nan


def _seconds(value: object, field: str) -> float:
    """A Prometheus duration ("5m", "1h30m", "2w", "0") as seconds; numbers pass as seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    match = _DURATION.match(str(value))
    if match is None or str(value) == "":
        raise _NotImported(f"{field}: '{value}' is not a duration like 30s, 5m or 1h30m")
    return sum(int(n) * unit for n, unit in zip(match.groups(), _DURATION_UNITS) if n)


def _text(value: object) -> object:
    """A YAML scalar as the string Prometheus reads (`alert: 1` → "1"); other values stay for validation."""
    return _texts({"v": value})["v"]


def _texts(mapping: dict) -> dict:
    """YAML scalars as the strings Prometheus reads them as (`severity: 1` → "1"); other values stay for validation."""
    def text(v: object) -> object:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        return "" if v is None else v
    return {k: text(v) for k, v in mapping.items()}


def _unique_id(name: str, taken: set[str]) -> str:
    """A rule id from `group-alert`: lowercase [a-z0-9._-], at most 128 characters, `-2`, `-3`… when taken."""
    slug = _NOT_ID.sub("-", name.lower()).strip("-._")[:MAX_ID_LEN].rstrip("-._") or "rule"
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        suffix = f"-{n}"
        candidate = slug[:MAX_ID_LEN - len(suffix)] + suffix
    return candidate
