"""Record which corpus test cases Prometheus' own `promtool test rules` (2.42) passes, one result per case.

    .venv/bin/python -m tests.kernel.prom_rules.promtool_baseline [CORPUS_DIR]

writes testdata/promtool_corpus_baseline.json, which test_corpus.py compares `vigil rules test`
against. promtool reports failures per file, so each test group is run alone (groups are
independent: each starts from empty storage) from a temporary copy whose rule_files point back into
the corpus, and each failure block is matched to its case by its header and expected text. A file
that promtool rejects as a whole (strict YAML) fails all its cases. Nothing is written into the corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from kernel.gotemplate.strconv import quote as go_quote
from kernel.prom_rules.durations import format_duration, parse_duration
from kernel.prom_rules.labelset import ALERT_NAME, from_map
from kernel.prom_rules.unit_test_report import LabelsAndAnnotations, alerts_text, indent_lines
from tests.corpus import PROMETHEUS_RULES

HERE = Path(__file__).parent
DEFAULT_CORPUS = PROMETHEUS_RULES
BASELINE = HERE / "testdata" / "promtool_corpus_baseline.json"


def corpus_test_files(corpus: Path) -> list[Path]:
    """The promtool test files of the corpus: YAML files with a top-level `rule_files` key."""
    found = []
    for path in sorted(corpus.rglob("*.y*ml")):
        try:
            doc = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and "rule_files" in doc and "tests" in doc:
            found.append(path)
    return found


def case_id(group: int, kind: str, index: int) -> str:
    """The identity of a case in the baseline: `3/alert_rule_test/0`."""
    return f"{group}/{kind}/{index}"


def _run_promtool(path: Path) -> str:
    proc = subprocess.run(["promtool", "test", "rules", path.name], cwd=path.parent, capture_output=True,
                          text=True, timeout=300)
    return proc.stderr


def _header(kind: str, case: dict) -> str:
    when = format_duration(parse_duration(str(case.get("eval_time", "0"))))
    if kind == "alert_rule_test":
        alerts = sorted((LabelsAndAnnotations(from_map({**_strings(a.get("exp_labels")), ALERT_NAME: case["alertname"]}),
                                              from_map(_strings(a.get("exp_annotations"))))
                         for a in case.get("exp_alerts") or []), key=lambda a: (a.labels, a.annotations))
        exp = indent_lines(alerts_text(alerts), " " * 12)
        return f"    alertname: {case['alertname']}, time: {when}, \n        exp:{exp}, "
    return f"    expr: {go_quote(case['expr'])}, time: {when},"


def _strings(mapping: dict | None) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in (mapping or {}).items()}


def baseline_for_file(path: Path) -> dict[str, bool]:
    """Per-case promtool outcome for one test file."""
    doc = yaml.safe_load(path.read_text())
    groups = doc.get("tests") or []
    ids = [(gi, kind, i, case) for gi, g in enumerate(groups) for kind in ("alert_rule_test", "promql_expr_test")
           for i, case in enumerate(g.get(kind) or [])]
    whole = _run_promtool(path)
    if "yaml:" in whole or "FAILED" in whole and "alertname:" not in whole and "expr:" not in whole and "rule:" not in whole:
        return {case_id(gi, kind, i): False for gi, kind, i, _ in ids}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        rule_files = [str((path.parent / f).resolve()) if not os.path.isabs(f) else f for f in doc.get("rule_files") or []]
        for gi, group in enumerate(groups):
            single = {**doc, "rule_files": rule_files, "tests": [group]}
            single_path = Path(tmp) / f"group{gi}.yaml"
            single_path.write_text(yaml.safe_dump(single, sort_keys=False, allow_unicode=True))
            err = _run_promtool(single_path)
            group_broken = "    rule: " in err or ("FAILED" in err and "alertname:" not in err and "expr:" not in err)
            for g, kind, i, case in ids:
                if g == gi:
                    out[case_id(gi, kind, i)] = not group_broken and _header(kind, case) not in err
    return out


def main(corpus: Path) -> None:
    """Write the baseline JSON for every test file of the corpus."""
    result = {str(p.relative_to(corpus)): baseline_for_file(p) for p in corpus_test_files(corpus)}
    BASELINE.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    for name, cases in result.items():
        print(f"{name}: {sum(cases.values())}/{len(cases)} pass under promtool")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS)
