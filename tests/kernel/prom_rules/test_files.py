"""Rule files are validated as `promtool check rules` does, and every error names file, line and key."""

from __future__ import annotations

import textwrap

import pytest

from kernel.prom_rules import AlertingRuleSpec, RecordingRuleSpec, SourceError, load_rule_file


def load(tmp_path, text: str):
    path = tmp_path / "rules.yml"
    path.write_text(textwrap.dedent(text))
    return load_rule_file(path, display_name="rules.yml")


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(SourceError) as exc:
        load(tmp_path, text)
    return str(exc.value)


def test_valid_file(tmp_path):
    rules = load(tmp_path, """\
        groups:
          - name: g
            interval: 30s
            limit: 10
            rules:
              - record: job:up:sum
                expr: sum by (job) (up)
              - alert: CassandraCommitlogPendingTasks(criteo)
                expr: up == 0
                for: 5m
                keep_firing_for: 1m
                labels: {severity: page}
                annotations: {summary: "{{ $labels.job }} down"}
        """)
    group = rules.groups[0]
    assert (group.name, group.interval_ms, group.limit) == ("g", 30_000, 10)
    assert isinstance(group.rules[0], RecordingRuleSpec)
    alert = group.rules[1]
    assert isinstance(alert, AlertingRuleSpec)
    assert (alert.alert, alert.for_ms, alert.keep_firing_for_ms, alert.line) == (
        "CassandraCommitlogPendingTasks(criteo)", 300_000, 60_000, 8)


@pytest.mark.parametrize("text, expected", [
    ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
     "rules.yml:5: groups[0].rules[0].expr: could not parse expression:"),
    ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          s: '{{ .Foo'\n",
     "rules.yml:7: groups[0].rules[0].annotations.s: invalid template: template: __alert:1:7: unclosed action"),
    ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: 5 minutes\n",
     'rules.yml:6: groups[0].rules[0].for: not a valid duration string: "5 minutes"'),
    ("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: page\n",
     "rules.yml:6: groups[0].rules[0].severity: unknown field 'severity'"),
    ("groups:\n  - name: g\n    rules:\n      - record: a-b\n        expr: up\n",
     "rules.yml:4: groups[0].rules[0].record: invalid recording rule name: a-b"),
    ("groups:\n  - name: g\n    rules:\n      - record: a\n        alert: b\n        expr: up\n",
     "rules.yml:4: groups[0].rules[0]: only one of 'record' and 'alert' must be set"),
    ("groups:\n  - name: g\n    rules:\n      - expr: up\n",
     "rules.yml:4: groups[0].rules[0]: one of 'record' or 'alert' must be set"),
    ("groups:\n  - name: g\n    rules:\n      - record: a\n        expr: up\n        for: 1m\n",
     "rules.yml:6: groups[0].rules[0].for: invalid field 'for' in recording rule"),
    ("groups:\n  - name: g\n    rules:\n      - alert: a\n        expr: up\n        labels: {__name__: x}\n",
     "rules.yml:6: groups[0].rules[0].labels.__name__: invalid label name: __name__"),
    ("groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
     "rules.yml:4: groups[1].name: group name 'g' is repeated in the same file"),
    ("groups:\n  - name: g\n    rules:\n      - alert: a\n       expr: up\n",
     "rules.yml:5: not valid YAML: while parsing a block collection (line 4), expected <block end>, "
     "but found '<block mapping start>' (column 8)"),
    ("groups:\n  - name: g\n    limit: many\n    rules: []\n",
     "rules.yml:3: groups[0].limit: expected an integer, got 'many'"),
])
def test_errors_name_file_line_and_key(tmp_path, text, expected):
    assert error_of(tmp_path, text).startswith(expected)


def test_every_error_is_reported(tmp_path):
    message = error_of(tmp_path, "groups:\n  - name: g\n    rules:\n      - record: a-b\n        expr: up ==\n")
    assert len(message.splitlines()) == 2
