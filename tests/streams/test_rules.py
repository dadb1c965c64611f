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
    ("rules:\n - {id: a, alert: A, metric: 'cpu usage', op: '>', threshold: 1}",
     ":2: rules[0].metric: 'cpu usage' is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '=>', threshold: 1}", ":2: rules[0].op: Input should be"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: high}", ":2: rules[0].threshold:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, for: -5s}", ":2: rules[0].for:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, annotations: {s: '{{ $labls.x }}'}}",
     ":2: rules[0].annotations.s: template: __alert:1:3: undefined variable \"$labls\""),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1, treshold: 2}", ":2: rules[0].treshold: unknown field"),
    ("rules:\n - {id: a, alert: A, metric: cpu, op: '>', threshold: 1}\n - {id: a, alert: B, metric: cpu, op: '>', threshold: 1}",
     ":3: rules[1].id: 'a' is used by an earlier rule (rules[0])"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: rate, threshold: 1}", ":2: rules[0].window: a rate rule needs a window"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: histogram_quantile, threshold: 1}", ":2: rules[0].type: Input should be"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, matchers: ['host=~\"(\"']}",
     ":2: rules[0].matchers[0]: 'host=~\"(\"': invalid regex"),
    ("rules:\n - {id: a, alert: A, metric: cpu, type: absent, absent_for: 1m, threshold: 1}",
     ":2: rules[0].threshold: an absent rule has no threshold"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: .inf}", ":2: rules[0].threshold: must be a finite number"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, keep_firing_for: -1s}", ":2: rules[0].keep_firing_for:"),
    ("rules:\n - {id: a, alert: A, metric: cpu, threshold: 1, version: 3}",
     ":2: rules[0].version: set by the rule store, not in a rules file"),
    ("rules: [", ":1: not valid YAML: while parsing a flow node, expected the node content, but found '<stream end>'"),
    ("- just a list", ": expected a mapping with a 'rules:' list"),
])
def test_bad_rules_name_the_file_line_and_field(tmp_path, body, expected):
    path = write(tmp_path, body)
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert str(err.value).startswith(f"{path}{expected}")


def test_every_bad_rule_is_listed_at_its_own_line(tmp_path):
    path = write(tmp_path, """rules:
  - id: ok
    alert: A
    metric: cpu
    threshold: 1
  - id: no-window
    alert: B
    metric: cpu
    type: rate
    threshold: 1
  - id: labels
    alert: C
    metric: cpu
    threshold: 1
    labels:
      'bad name': x
  - just text
""")
    with pytest.raises(RuleError) as err:
        load_rules(path)
    assert err.value.problems == [
        f"{path}:6: rules[1].window: a rate rule needs a window (e.g. 5m), more than 0",
        f"{path}:15: rules[2].labels: 'bad name' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)",
        f"{path}:17: rules[3]: expected a mapping"]


def test_missing_file(tmp_path):
    with pytest.raises(RuleError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_templates_render_labels_and_value():
    assert render("{{ $labels.host }} is {{$value}}%", {"host": "web-3"}, 97.25) == "web-3 is 97.25%"
    assert render("{{ $labels.missing }}!", {}, 1) == "!"
