"""`vigil rules test` against promtool's own output on small files (testdata/golden_*, verified with promtool 2.42)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.rules_cli import rules_app
from kernel.prom_rules.unit_test_runner import run_test_file, run_test_files

TESTDATA = Path(__file__).parent / "testdata"


@pytest.mark.parametrize("name, exit_code", [("golden_test", 0), ("golden_failing_test", 1), ("golden_error_test", 1)])
def test_output_is_promtools(name, exit_code, monkeypatch):
    monkeypatch.chdir(TESTDATA)  # promtool was run from here, with the bare file name
    out, err = io.StringIO(), io.StringIO()
    assert run_test_files([f"{name}.yml"], out, err) == exit_code
    assert out.getvalue() == (TESTDATA / f"{name}.stdout").read_text()
    assert err.getvalue() == (TESTDATA / f"{name}.stderr").read_text()


def test_cases_are_reported_one_by_one():
    result = run_test_file(str(TESTDATA / "golden_failing_test.yml"))
    assert [(c.group, c.kind.value, c.index, c.passed) for c in result.cases] == [
        (0, "alert_rule_test", 0, False), (0, "alert_rule_test", 1, False),
        (1, "promql_expr_test", 0, True), (1, "promql_expr_test", 1, True),
        (1, "promql_expr_test", 2, False), (1, "promql_expr_test", 3, False)]


def test_cli_exits_1_and_shows_the_diff(monkeypatch):
    monkeypatch.chdir(TESTDATA)
    result = CliRunner().invoke(rules_app, ["test", "golden_test.yml", "golden_failing_test.yml"])
    assert result.exit_code == 1
    assert "Unit Testing:  golden_test.yml\n  SUCCESS" in result.output
    assert "alertname: A, time: 2m30s, \n        exp:[], \n        got:[" in result.output


def test_cli_exits_0_when_all_pass(monkeypatch):
    monkeypatch.chdir(TESTDATA)
    result = CliRunner().invoke(rules_app, ["test", "golden_test.yml"])
    assert result.exit_code == 0, result.output


def test_unknown_field_fails_the_file_naming_line_and_key(tmp_path):
    test_file = tmp_path / "t.yml"
    test_file.write_text("rule_files: []\ntests:\n  - interval: 1m\n    start_timestamp: 0\n")
    result = run_test_file(str(test_file))
    assert not result.passed
    assert result.errors[0].startswith(f"{test_file}:4: tests[0].start_timestamp: unknown field 'start_timestamp'")


def test_missing_rule_file_warns(tmp_path):
    test_file = tmp_path / "t.yml"
    test_file.write_text("rule_files: [nope.yml]\ntests: []\n")
    result = run_test_file(str(test_file))
    assert result.passed
    assert result.warnings == (f"  WARNING: no file match pattern {tmp_path / 'nope.yml'}",)
