"""The import rate over public Prometheus rule collections (issue 13: ≥ 99 % of alerting and recording rules).

The collections live outside the repository (shared/corpus/prometheus-rules beside the repository, or
VIGIL_CORPUS); the test skips, saying so, when they are absent. Every file with a `groups:`
list is a rule file; promtool unit-test files (`rule_files:`/`tests:`) are not.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from streams.promql_import import translate
from tests.corpus import PROMETHEUS_RULES

CORPUS = PROMETHEUS_RULES
TARGET = 0.99


def rule_files(root: Path) -> list[Path]:
    """Every Prometheus rule file under `root` (YAML with a `groups:` list)."""
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and isinstance(document.get("groups"), list):
            found.append(path)
    return found


def import_report(root: Path) -> tuple[dict[str, Counter], Counter]:
    """Per collection (top folder): rules and imports by kind and evaluator; refusals by their reason."""
    per: dict[str, Counter] = {}
    refusals: Counter = Counter()
    for path in rule_files(root):
        translation = translate(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
        counts = per.setdefault(path.relative_to(root).parts[0], Counter())
        counts["alerting"] += translation.alerting
        counts["recording"] += translation.recording
        counts["alerting imported"] += translation.imported("alerting")
        counts["recording imported"] += translation.imported("recording")
        for rule in translation.rules:
            counts[f"{rule.evaluator} evaluator"] += 1
        for problem in translation.problems:
            refusals[problem.reason.split(":")[0]] += 1
    return per, refusals


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"rule corpus not found at {CORPUS} (set VIGIL_CORPUS)")
def test_at_least_99_percent_of_the_corpus_rules_import():
    per, refusals = import_report(CORPUS)
    total = sum(c["alerting"] + c["recording"] for c in per.values())
    imported = sum(c["alerting imported"] + c["recording imported"] for c in per.values())
    lines = [f"{name}: {c['alerting imported']}/{c['alerting']} alerting, {c['recording imported']}/{c['recording']} "
             f"recording ({c['stream evaluator']} stream, {c['query evaluator']} query)" for name, c in sorted(per.items())]
    report = "\n".join(lines + [f"refused by construct: {dict(refusals)}"])
    print(report)
    assert total > 1000, report  # the collections are there, not an empty folder
    assert imported / total >= TARGET, report
