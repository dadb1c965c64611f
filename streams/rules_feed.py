"""The rules a worker evaluates: its optional rules file plus every live rule on the rules topic.

The whole compacted rules topic is read in the background (streams/compacted_feed.py) and a new
RuleIndex is swapped in on each change; the Faust agents read `feed.index` per batch, so a change
applies within one fetch wait, without a restart. A rule deleted on the topic (`deleted: true`)
leaves the index; a saved rule overrides a file rule of the same id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from kernel.settings import CommonSettings
from schemas import codec
from schemas.records import RuleRecord
from streams.compacted_feed import CompactedFeed
from kernel.rules import Rule, RuleError, RuleIndex, parse_rule

log = logging.getLogger(__name__)


def rule_of(record: RuleRecord) -> Rule:
    """The Rule a record holds, at the record's version."""
    spec = json.loads(record["spec"])
    return parse_rule({**spec, "id": record["id"], "version": record["version"]}, f"rules topic ({record['id']})")


class RulesFeed(CompactedFeed[RuleRecord]):
    """Keeps `index` current from the rules topic; `on_change` is told after each swap."""

    def __init__(self, settings: CommonSettings, file_rules: list[Rule],
                 on_change: Callable[[RuleIndex], None] | None = None) -> None:
        super().__init__(settings.kafka_bootstrap, settings.topics.rules, codec.rule(), "rules")
        self._file_rules = file_rules
        self._on_change = on_change
        self.index = RuleIndex(file_rules)

    def accept(self, record: RuleRecord) -> bool:
        """A live rule must validate; a deleted one is always taken."""
        if record["deleted"]:
            return True
        try:
            rule_of(record)
        except (RuleError, ValueError) as exc:
            log.error("ignoring rule %s v%d from the rules topic: %s", record["id"], record["version"], exc)
            return False
        return True

    def rebuild(self) -> RuleIndex:
        """File rules, overridden by the topic's live rules of the same id, minus deleted ones."""
        rules = {r.id: r for r in self._file_rules}
        for rule_id, record in self.records.items():
            if record["deleted"]:
                rules.pop(rule_id, None)
            else:
                rules[rule_id] = rule_of(record)
        self.index = RuleIndex(rules.values())
        if self._on_change is not None:
            self._on_change(self.index)
        return self.index

    def describe(self) -> str:
        """How many rules the index holds, for the feed's log lines."""
        return f"{len(self.index)} rules"
