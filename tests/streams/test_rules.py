"""Rule files: what loads, and errors that point at the file, rule and field."""

from __future__ import annotations

import pytest

from kernel.rules import RuleError, load_rules, parse_duration
from kernel.rule_template import render


def write(tmp_path, text: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_demo_rules_load():
    index = load_rules(__import__("pathlib").Path("infra/demo/rules.yaml"))
    assert [r.id for r in index.for_metric("cpu_usage_user")] == ["high-cpu", "host-silent"]
    assert {r.type for r in index.rules} == {"threshold", "absent", "deriv"}


def test_durations():
    assert parse_duration("90s") == 90 and parse_duration("5m") == 300 and parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25 and parse_duration(12) == 12
    for bad in ("-5s", "5 minutes", "", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):
        parse_duration(-1)


@pytest.mark.parametrize("body, expected", [
    ("rules:\n - {id: a, alert: A, metric: 'cpu usage', op: '>', threshold: 1}", "metric: 'cpu usage' is not a valid metric name"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '=>', threshold: 1}", "rules[0] (a): op:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: high}", "threshold:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, for: -5s}", "for:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, annotations: {s: '{{ $labls.x }}'}}", "template of 's'"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, treshold: 2}", "treshold: Extra inputs"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1}\n - {id: a, alert: B, metric: cpu, op: '>', threshold: 1}", "rules[1] (a): id: 'a' is used"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: rate, threshold: 1}", "rules[0] (a): window: a rate rule needs a window"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: histogram_quantile, threshold: 1}", "rules[0] (a): type: Input should be"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, matchers: ['host=~\"(\"']}", "rules[0] (a): matchers[0]: 'host=~\"(\"': invalid regex"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: absent, absent_for: 1m, threshold: 1}", "threshold: an absent rule has no threshold"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: .inf}", "threshold: must be a finite number"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, keep_firing_for: -1s}", "keep_firing_for:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, version: 3}", "version: set by the rule store"),
    ("rules: [", "not valid YAML"),
    ("- just a list", "expected a mapping with a 'rules:' list"),
])
def test_bad_rules_name_the_field(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(RuleError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_templates_render_labels_and_value():
    assert render("{{ $labels.host }} is {{$value}}%", {"host": "web-3"}, 97.25) == "web-3 is 97.25%"
    assert render("{{ $labels.missing }}!", {}, 1) == "!"
