"""Vigil renders every golden template exactly as Prometheus 2.42 did (testdata/golden.json, made by
testdata/generate_golden.py from promtool's own output)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.gotemplate import AlertTemplateData, QueryResult, TemplateError, check
from kernel.gotemplate.alert import expand_with
from kernel.gotemplate.prometheus_funcs import prometheus_funcs

GOLDEN = json.loads((Path(__file__).parent / "testdata" / "golden.json").read_text())


def _query(expr: str, at_ms: int) -> list[QueryResult]:
    return [QueryResult(r["labels"], r["value"]) for r in GOLDEN["queries"][expr]]


def _render(case: dict) -> str:
    # As promtool: the alert data carries the external URL, the template functions have none.
    data = AlertTemplateData(dict(GOLDEN["series_labels"]), dict(GOLDEN["external_labels"]),
                             GOLDEN["external_url"], float(case["value"]))
    return expand_with(case["template"], data, prometheus_funcs(_query, 0, None), case["alert"])


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=[c["id"] for c in GOLDEN["cases"]])
def test_renders_like_prometheus(case: dict) -> None:
    assert _render(case) == case["want"]


@pytest.mark.parametrize("case", GOLDEN["bad"], ids=[c["id"] for c in GOLDEN["bad"]])
def test_rejects_bad_template_like_prometheus(case: dict) -> None:
    with pytest.raises(TemplateError) as raised:
        check(case["template"])
    # Prometheus names the template __alert_<rule>; the message after it is Go's, word for word.
    want = case["want"].replace("__alert_Bad", "__alert")
    assert raised.value.go_message == want
    assert raised.value.position is not None
