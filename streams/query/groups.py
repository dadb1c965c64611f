"""Query rules (kernel/rules.py, `evaluator: query`) gathered into Prometheus rule groups, and who owns each.

Rules name their group; a group's rules run in `position` order (their order in the file), at the
interval, limit and labels of its first rule. Group labels are set under the rule's own (the rule's
win), as Prometheus does with group-level labels.

Ownership: a group belongs to the metrics-topic partition its name hashes to, and so to the one worker
of the consumer group that holds that partition; its state lives on the same partition of the
worker's changelog-backed table, which Faust moves with it on a rebalance.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass

from kernel.prom_rules import AlertingRuleSpec, RecordingRuleSpec, RuleGroupSpec
from kernel.rules import Rule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupDef:
    """One query rule group as the worker evaluates it: the kernel's spec and the Vigil rules behind it."""

    name: str
    spec: RuleGroupSpec
    rules: tuple[Rule, ...]  # in evaluation order, parallel to spec.rules
    interval_ms: int
    offset_ms: int  # where in each interval the group is evaluated (spreads groups over the interval)

    @property
    def versions(self) -> tuple[tuple[str, int], ...]:
        """(rule id, version) of every rule: a change means rebuilding the group (its state carried over)."""
        return tuple((r.id, r.version) for r in self.rules)


def group_partition(name: str, partitions: int) -> int:
    """The metrics-topic partition (and state partition) of a group: stable across processes."""
    return zlib.crc32(name.encode()) % partitions


def build_groups(rules: list[Rule]) -> dict[str, GroupDef]:
    """Every group of `rules` (query rules), by name."""
    members: dict[str, list[Rule]] = {}
    for rule in rules:
        members.setdefault(rule.query_group().name, []).append(rule)
    return {name: _group(name, sorted(rs, key=lambda r: (r.query_group().position, r.id)))
            for name, rs in members.items()}


def _group(name: str, rules: list[Rule]) -> GroupDef:
    first = rules[0].query_group()
    different = [r.id for r in rules[1:] if (g := r.query_group()).interval_s != first.interval_s
                 or g.limit != first.limit or g.labels != first.labels]
    if different:
        log.warning("query group %s: rules %s name another interval, limit or labels than %s; %s's apply",
                    name, ", ".join(different), rules[0].id, rules[0].id)
    interval_ms = int(round(first.interval_s * 1000))
    specs = tuple(_spec(rule, first.labels) for rule in rules)
    spec = RuleGroupSpec(name=name, file="", interval_ms=interval_ms, limit=first.limit, rules=specs)
    return GroupDef(name, spec, tuple(rules), interval_ms, zlib.crc32(name.encode()) % interval_ms)


def _spec(rule: Rule, group_labels: dict[str, str]) -> AlertingRuleSpec | RecordingRuleSpec:
    labels = tuple({**group_labels, **rule.labels}.items())
    if rule.record is not None:
        return RecordingRuleSpec(rule.record, rule.expr or "", labels, 0)
    return AlertingRuleSpec(rule.alert or "", rule.expr or "", int(round(rule.for_s * 1000)),
                            int(round(rule.keep_firing_for_s * 1000)), labels,
                            tuple(rule.annotations.items()), 0)


def next_due_ms(group: GroupDef, now_ms: int) -> int:
    """The evaluation time of the slot `now_ms` falls in (Prometheus' evalTimestamp: interval slots plus an offset)."""
    return now_ms - (now_ms - group.offset_ms) % group.interval_ms
