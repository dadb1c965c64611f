"""Every public rule expression in the shared corpus parses and evaluates without error.

Reads shared/corpus/prometheus-rules/ (beside the repository) in place (the files are never copied into the repo),
evaluating each expression over an empty storage and over random data for the series it selects.
"""

from __future__ import annotations

import random

import pytest
import yaml

from kernel.promql import Engine, MemoryStorage, PromQLError, parse, selectors
from tests.corpus import PROMETHEUS_RULES

CORPUS = PROMETHEUS_RULES


def _rule_exprs() -> list[tuple[str, str]]:
    """Return (file, expr) for every alerting/recording rule in the corpus' rule files."""
    out = []
    for path in sorted(CORPUS.rglob("*.y*ml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            groups = doc.get("groups") or (doc.get("spec") or {}).get("groups") or []
            for group in groups if isinstance(groups, list) else []:
                for rule in (group or {}).get("rules") or []:
                    if isinstance(rule, dict) and isinstance(rule.get("expr"), (str, int, float)):
                        out.append((str(path.relative_to(CORPUS)), str(rule["expr"])))
    return out


def _random_storage(exprs: list[str], seed: int = 7) -> MemoryStorage:
    """Fill a storage with series matching the equality matchers of every selector, with noise."""
    rng = random.Random(seed)
    storage = MemoryStorage()
    for expr in exprs:
        for matchers in selectors(parse(expr)):
            base = {m.name: m.value for m in matchers if m.op == "=" and m.value}
            for instance in ("a", "b"):
                labels = {"instance": instance, "job": "j", **base}
                labels.setdefault("__name__", "anything")
                if labels["__name__"].endswith("_bucket"):
                    labels["le"] = rng.choice(["0.1", "1", "+Inf"])
                value = rng.random() * 10
                for t in range(0, 3_600_000, 60_000):
                    value += rng.random() * 5 if rng.random() < 0.9 else -value
                    storage.add(labels, t, value)
    return storage


@pytest.fixture(scope="module")
def corpus_exprs() -> list[tuple[str, str]]:
    if not CORPUS.is_dir():
        pytest.skip(f"rule corpus not present at {CORPUS}")
    return _rule_exprs()


def test_corpus_is_large(corpus_exprs):
    assert len(corpus_exprs) > 1000


def test_every_expression_parses(corpus_exprs):
    failures = []
    for path, expr in corpus_exprs:
        try:
            parse(expr)
        except PromQLError as exc:
            failures.append(f"{path}: {exc}")
    assert not failures, "\n".join(failures[:20])


def test_every_expression_evaluates_over_empty_and_random_data(corpus_exprs):
    exprs = sorted({expr for _, expr in corpus_exprs})
    empty = Engine(MemoryStorage())
    filled = Engine(_random_storage(exprs))
    failures = []
    for expr in exprs:
        for engine in (empty, filled):
            try:
                engine.instant(expr, 3_000_000)
            except PromQLError as exc:
                # Prometheus raises these for data, not for the query: acceptable outcomes.
                if "matching" not in str(exc) and "same labelset" not in str(exc):
                    failures.append(f"{expr!r}: {exc}")
    assert not failures, "\n".join(failures[:20])
