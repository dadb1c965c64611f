"""Prometheus rule files, loaded and validated as `promtool check rules` (Prometheus 2.42) does.

A file is `groups: [{name, interval, limit, rules: [...]}]`; a rule is a recording rule (`record`,
`expr`, `labels`) or an alerting rule (`alert`, `expr`, `for`, `keep_firing_for`, `labels`,
`annotations`). The checks follow rulefmt's `RuleGroups.Validate` and `RuleNode.Validate`
(https://github.com/prometheus/prometheus/blob/v2.42.0/model/rulefmt/rulefmt.go), but every message
names the file, the line and the key path (`rules.yml:14: groups[0].rules[3].expr: ...`) instead of
rulefmt's `group "x", rule 4` so that the user can jump straight to the mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kernel.gotemplate import TemplateError, check as check_template
from kernel.names import is_label_name, is_metric_name
from kernel.promql import PromQLError, parse as parse_promql
from kernel.yaml_config import join

from .labelset import METRIC_NAME
from .yaml_source import Source, SourceError, compose, duration, mapping, scalar, sequence, string_map

_FILE_KEYS = ("groups",)
_GROUP_KEYS = ("name", "interval", "limit", "rules")
_RULE_KEYS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")


@dataclass(frozen=True)
class RecordingRuleSpec:
    """A recording rule: store `expr`'s result as series `record`, with `labels` set on each."""

    record: str
    expr: str
    labels: tuple[tuple[str, str], ...]  # in file order; values are literal (not templates)
    line: int


@dataclass(frozen=True)
class AlertingRuleSpec:
    """An alerting rule: each series of `expr` is an alert, firing once active for `for_ms`."""

    alert: str
    expr: str
    for_ms: int
    keep_firing_for_ms: int
    labels: tuple[tuple[str, str], ...]  # in file order; values are Go templates
    annotations: tuple[tuple[str, str], ...]  # in file order; values are Go templates
    line: int


RuleSpec = RecordingRuleSpec | AlertingRuleSpec


@dataclass(frozen=True)
class RuleGroupSpec:
    """A named list of rules evaluated in order at one interval; `limit` caps series/alerts per rule (0: none)."""

    name: str
    file: str
    interval_ms: int | None  # None: the global evaluation interval applies
    limit: int
    rules: tuple[RuleSpec, ...]


@dataclass(frozen=True)
class RuleFile:
    """The groups of one rule file, in file order."""

    path: str
    groups: tuple[RuleGroupSpec, ...]


def load_rule_file(path: Path | str, display_name: str | None = None) -> RuleFile:
    """Read and validate a Prometheus rule file; raises SourceError listing every mistake found."""
    path = Path(path)
    source, root = compose(path, display_name)
    top = mapping(source, root, "", _FILE_KEYS)
    groups = []
    seen: dict[str, int] = {}
    for i, node in enumerate(sequence(source, top.get("groups"), "groups")):
        where = join("groups", i)
        group = _group(source, node, where)
        if group is None:
            continue
        if group.name in seen:
            source.problem(node, join(where, "name"),
                           f"group name {group.name!r} is repeated in the same file (first at groups[{seen[group.name]}])")
        seen.setdefault(group.name, i)
        groups.append(group)
    source.raise_if_problems()
    return RuleFile(str(path), tuple(groups))


def _group(source: Source, node, where: str) -> RuleGroupSpec | None:
    fields = mapping(source, node, where, _GROUP_KEYS)
    name = scalar(source, fields.get("name"), join(where, "name")) or ""
    if name == "":
        source.problem(fields.get("name", node), join(where, "name"), "group name must not be empty")
    interval = duration(source, fields.get("interval"), join(where, "interval"))
    limit = _int(source, fields.get("limit"), join(where, "limit"))
    rules = []
    for i, rule_node in enumerate(sequence(source, fields.get("rules"), join(where, "rules"))):
        rule = _rule(source, rule_node, join(join(where, "rules"), i))
        if rule is not None:
            rules.append(rule)
    return RuleGroupSpec(name, source.file, interval or None, limit, tuple(rules))


def _rule(source: Source, node, where: str) -> RuleSpec | None:
    fields = mapping(source, node, where, _RULE_KEYS)
    before = len(source.problems)
    record = scalar(source, fields.get("record"), join(where, "record")) or ""
    alert = scalar(source, fields.get("alert"), join(where, "alert")) or ""
    expr = scalar(source, fields.get("expr"), join(where, "expr")) or ""
    for_ms = duration(source, fields.get("for"), join(where, "for"))
    keep_ms = duration(source, fields.get("keep_firing_for"), join(where, "keep_firing_for"))
    labels = string_map(source, fields.get("labels"), join(where, "labels"))
    annotations = string_map(source, fields.get("annotations"), join(where, "annotations"))

    if record and alert:
        source.problem(fields["record"], where, "only one of 'record' and 'alert' must be set")
    elif not record and not alert:
        source.problem(node, where, "one of 'record' or 'alert' must be set")
    if expr == "":
        source.problem(fields.get("expr", node), join(where, "expr"), "field 'expr' must be set in rule")
    else:
        try:
            parse_promql(expr)
        except PromQLError as exc:
            source.problem(fields["expr"], join(where, "expr"), f"could not parse expression: {exc}")
    if record:
        if annotations:
            source.problem(fields["annotations"], join(where, "annotations"), "invalid field 'annotations' in recording rule")
        if for_ms:
            source.problem(fields["for"], join(where, "for"), "invalid field 'for' in recording rule")
        if keep_ms:
            source.problem(fields["keep_firing_for"], join(where, "keep_firing_for"),
                           "invalid field 'keep_firing_for' in recording rule")
        if not is_metric_name(record):
            source.problem(fields["record"], join(where, "record"), f"invalid recording rule name: {record}")
    for name in labels:
        if not is_label_name(name) or name == METRIC_NAME:
            source.problem(fields["labels"], join(join(where, "labels"), name), f"invalid label name: {name}")
    for name in annotations:
        if not is_label_name(name):
            source.problem(fields["annotations"], join(join(where, "annotations"), name),
                           f"invalid annotation name: {name}")
    if alert:  # Prometheus test-parses the templates of alerting rules only
        for kind, values in (("labels", labels), ("annotations", annotations)):
            for name, text in values.items():
                try:
                    check_template(text)
                except TemplateError as exc:
                    source.problem(fields[kind], join(join(where, kind), name), f"invalid template: {exc}")

    if len(source.problems) > before:
        return None
    line = node.start_mark.line + 1
    if record:
        return RecordingRuleSpec(record, expr, tuple(labels.items()), line)
    return AlertingRuleSpec(alert, expr, for_ms, keep_ms, tuple(labels.items()), tuple(annotations.items()), line)


def _int(source: Source, node, where: str) -> int:
    text = scalar(source, node, where)
    if text is None:
        return 0
    try:
        return int(text, 0) if text.lstrip("+-").startswith(("0x", "0o", "0b")) else int(text)
    except ValueError:
        source.problem(node, where, f"expected an integer, got {text!r}")
        return 0


__all__ = ["AlertingRuleSpec", "RecordingRuleSpec", "RuleFile", "RuleGroupSpec", "RuleSpec", "SourceError",
           "load_rule_file"]
