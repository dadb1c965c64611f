"""The public rule collections' promtool unit tests, run by `vigil rules test`, against promtool's own results.

The corpus (shared/corpus/prometheus-rules beside the repository, or $VIGIL_CORPUS/prometheus-rules) is read in place,
never copied; testdata/promtool_corpus_baseline.json records, per case, whether Prometheus 2.42's
promtool passes it (regenerate with `python -m tests.kernel.prom_rules.promtool_baseline`).
"""

from __future__ import annotations

import json

import pytest

from kernel.prom_rules.unit_test_runner import run_test_file

from .promtool_baseline import BASELINE, DEFAULT_CORPUS, case_id

CORPUS = DEFAULT_CORPUS
REQUIRED_RATE = 0.95


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"rule corpus not found at {CORPUS} (set VIGIL_CORPUS)")
@pytest.mark.timeout(120)
def test_vigil_passes_what_promtool_passes():
    baseline: dict[str, dict[str, bool]] = json.loads(BASELINE.read_text())
    promtool_passed = vigil_passed = 0
    differences = []
    for name, cases in sorted(baseline.items()):
        path = CORPUS / name
        if not path.exists():
            continue
        result = run_test_file(str(path))
        ours = {case_id(c.group, c.kind.value, c.index): c.passed for c in result.cases}
        for case, passed in cases.items():
            if not passed:
                continue
            promtool_passed += 1
            if ours.get(case, False):
                vigil_passed += 1
            else:
                differences.append(f"{name} {case}")
    assert promtool_passed > 0
    rate = vigil_passed / promtool_passed
    print(f"\nvigil passes {vigil_passed} of the {promtool_passed} corpus cases promtool passes ({rate:.1%})")
    assert rate >= REQUIRED_RATE, "cases promtool passes but vigil fails:\n" + "\n".join(differences)
