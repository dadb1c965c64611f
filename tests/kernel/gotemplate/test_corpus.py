"""Every label and annotation template of the public rule files in the shared corpus passes check(),
as each passes Prometheus' own rule loading. The files are read in place, never copied here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from kernel.gotemplate import TemplateError, check
from tests.corpus import PROMETHEUS_RULES

CORPUS = PROMETHEUS_RULES


def _groups(document: object) -> Iterator[dict]:
    """Rule groups of a plain rule file or of a PrometheusRule resource (spec.groups)."""
    if not isinstance(document, dict):
        return
    spec = document.get("spec")
    groups = document.get("groups") or (spec.get("groups") if isinstance(spec, dict) else None) or []
    yield from (g for g in groups if isinstance(g, dict))


def corpus_templates() -> list[tuple[str, str]]:
    """(where, template) for every labels:/annotations: value of every alerting rule in the corpus."""
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix not in (".yml", ".yaml") or not path.is_file():
            continue
        for document in yaml.safe_load_all(path.read_text()):
            for group in _groups(document):
                for rule in group.get("rules") or []:
                    if not isinstance(rule, dict) or "alert" not in rule:
                        continue
                    for section in ("labels", "annotations"):
                        for key, text in (rule.get(section) or {}).items():
                            where = f"{path.relative_to(CORPUS)}: {rule['alert']}: {section}.{key}"
                            found.append((where, str(text)))
    return found


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"public rule corpus not present at {CORPUS}")
def test_every_corpus_template_passes_check() -> None:
    templates = corpus_templates()
    assert len(templates) > 1000  # the corpus holds ~1,300 rules; a parsing slip would show here
    failures = []
    for where, text in templates:
        try:
            check(text)
        except TemplateError as error:
            failures.append(f"{where}: {error}")
    assert not failures, f"{len(failures)} of {len(templates)} failed:\n" + "\n".join(failures[:50])
