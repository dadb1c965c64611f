"""The package's contract as its callers (the rule evaluator, rule validation) use it."""

from __future__ import annotations

import time

import pytest

from kernel.gotemplate import (AlertTemplateData, Func, GoError, QueryResult, TemplateError, check, expand_alert,
                               parse, prometheus_alert_template)


def test_parse_once_execute_many_with_go_semantics() -> None:
    template = parse("{{ range $i, $x := .Items }}{{ if $i }}, {{ end }}{{ $x | printf \"%.1f\" }}{{ end }}", "t")
    assert parse("{{ range $i, $x := .Items }}{{ if $i }}, {{ end }}{{ $x | printf \"%.1f\" }}{{ end }}", "t") \
        is template  # cached by text
    assert template.execute({"Items": [1.0, 2.25]}) == "1.0, 2.2"
    assert template.execute({"Items": []}) == ""


def test_caller_functions_are_called_and_their_errors_reported_as_go_does() -> None:
    def shout(s):
        return s.upper() + "!"

    def fail():
        raise GoError("backend down")

    template = parse('{{ shout "hi" }} {{ fail }}', "t", func_names=["shout", "fail"])
    with pytest.raises(TemplateError) as raised:
        template.execute({}, {"shout": shout, "fail": fail})
    assert str(raised.value) == 'template: t:1:20: executing "t" at <fail>: error calling fail: backend down'
    assert raised.value.position == (1, 20)
    assert parse('{{ shout "hi" }}', "t", ["shout"]).execute({}, {"shout": Func(shout, ("string",))}) == "HI!"


def test_parse_error_names_line_and_column() -> None:
    with pytest.raises(TemplateError) as raised:
        parse('line one\n  {{ nosuch "x" }}', "rule")
    assert raised.value.position == (2, 5)
    assert str(raised.value) == 'template: rule:2:5: function "nosuch" not defined'
    assert raised.value.go_message == 'template: rule:2: function "nosuch" not defined'  # Go's own text


@pytest.mark.parametrize(("text", "position", "message"), [
    ("{{ $labels.job ", (1, 15), "unclosed action"),
    ("ok {{ end }}", (1, 10), "unexpected {{end}}"),
    ("{{ humanize 1 2 }}{{ frob }}", (1, 21), 'function "frob" not defined'),
    ("a\n{{ if $value }}b", (2, 16), "unexpected EOF"),
])
def test_check_reports_positions_in_the_users_text(text: str, position: tuple[int, int], message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        check(text)
    assert raised.value.position == position
    assert str(raised.value) == f"template: __alert:{position[0]}:{position[1]}: {message}"


def test_check_accepts_what_only_fails_at_run_time_as_prometheus_does() -> None:
    check("{{ humanize }}")  # wrong arg count is an execution error in Go
    check("{{ $value | humanizePercentage }} {{ range query \"up\" }}{{ .Labels.job }}{{ end }}")


def test_expand_alert_gives_prometheus_text() -> None:
    calls = []

    def query(expr: str, at_ms: int) -> list[QueryResult]:
        calls.append((expr, at_ms))
        return [QueryResult({"instance": "a:1"}, 0.25)]

    text = ("{{ $labels.instance | stripPort }} at {{ $value }} ({{ humanizePercentage (query \"x\" | first | value) }})"
            " {{ $externalLabels.region }} {{ pathPrefix }} {{ $externalURL }}")
    out = expand_alert(text, {"instance": "db:9100"}, 1e6, {"region": "eu"}, "http://p:9090/prom", query, 60_000,
                       alert_name="DiskFull")
    assert out == "db at 1e+06 (25%) eu /prom http://p:9090/prom"
    assert calls == [("x", 60_000)]


def test_expand_alert_puts_failures_in_the_text() -> None:
    out = expand_alert("{{ humanize $labels.job }}", {"job": "api"}, 1, {}, "http://p", None, 0, alert_name="A")
    assert out == ('<error expanding template: error executing template __alert_A: template: __alert_A:1:115: '
                   'executing "__alert_A" at <humanize $labels.job>: error calling humanize: '
                   'strconv.ParseFloat: parsing "api": invalid syntax>')
    out = expand_alert("{{ nope }}", {}, 1, {}, "http://p", None, 0, alert_name="A")
    assert out == '<error expanding template: error parsing template __alert_A: template: __alert_A:1: ' \
                  'function "nope" not defined>'
    out = expand_alert('{{ query "up" }}', {}, 1, {}, "http://p", None, 0)
    assert "error calling query" in out  # no QueryFunc given


def test_alert_template_data_prints_as_go_struct() -> None:
    data = AlertTemplateData({"a": "1"}, {}, "http://x", 0.5)
    assert prometheus_alert_template("{{ . }}").execute(data) == "{map[a:1] map[] http://x 0.5}"


def test_rendering_is_fast_enough_per_alert_per_evaluation() -> None:
    text = ('{{ $labels.instance }} of {{ $labels.job }} is at {{ $value | humanizePercentage }} '
            '{{ if gt $value 0.9 }}critical{{ else }}warning{{ end }}')
    expand_alert(text, {"instance": "a", "job": "b"}, 0.5, {}, "http://x", None, 0)
    start = time.perf_counter()
    for i in range(2000):
        expand_alert(text, {"instance": f"h{i}", "job": "b"}, i / 2000, {}, "http://x", None, 0)
    per_alert = (time.perf_counter() - start) / 2000
    assert per_alert < 0.002, f"{per_alert * 1e6:.0f} µs per expansion"
