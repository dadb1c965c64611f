"""Label/annotation templates of stream rules: Prometheus' Go templates (kernel/gotemplate) render as Prometheus
renders them; what Prometheus refuses, and `query`, are refused when the rule is saved, naming line:column."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.rules import RuleError, parse_rule
from kernel.gotemplate import expand_alert
from kernel.rule_template import TemplateError, go_value, render, validate_template

LABELS = {"instance": "web-3:9100", "job": "Node", "bytes": "1536", "name": "sshd.service"}


@pytest.mark.parametrize("value, expected", [
    (1234567, "1.235M"), (1500, "1.5k"), (-1500, "-1.5k"), (999, "999"), (1, "1"), (0, "0"), (0.00012, "120u"),
    (0.5, "500m"), (2e-9, "2n"), (1e21, "1Z"), (math.nan, "NaN"), (math.inf, "+Inf"), (-math.inf, "-Inf"),
])
def test_humanize_uses_si_prefixes_and_four_significant_digits(value, expected):
    assert render("{{ $value | humanize }}", {}, value) == expected
    assert render("{{ humanize $value }}", {}, value) == expected  # the call form says the same


@pytest.mark.parametrize("value, expected", [
    (1048576, "1Mi"), (1536, "1.5ki"), (1024, "1ki"), (1023, "1023"), (1, "1"), (0.5, "0.5"), (5 * 1024 ** 4, "5Ti"),
    (-2048, "-2ki"), (math.nan, "NaN"),
])
def test_humanize1024_uses_binary_prefixes_spelled_as_prometheus_does(value, expected):
    assert render("{{ $value | humanize1024 }}", {}, value) == expected


@pytest.mark.parametrize("value, expected", [
    (0.1234567, "12.35%"), (1, "100%"), (0, "0%"), (0.000123, "0.0123%"), (-0.5, "-50%"),
])
def test_humanize_percentage_multiplies_by_100(value, expected):
    assert render("{{ $value | humanizePercentage }}", {}, value) == expected


@pytest.mark.parametrize("value, expected", [
    (93784, "1d 2h 3m 4s"), (3725, "1h 2m 5s"), (899.99, "14m 59s"), (65, "1m 5s"), (1.5, "1.5s"), (59.5, "59.5s"),
    (0.25, "250ms"), (0.000002, "2us"), (0, "0s"), (-65, "-1m 5s"), (-0.5, "-500ms"), (math.inf, "+Inf"),
])
def test_humanize_duration_reads_seconds(value, expected):
    assert render("{{ $value | humanizeDuration }}", {}, value) == expected


@pytest.mark.parametrize("text, value, expected", [
    ('{{ printf "%.2f" $value }}%', 97.256, "97.26%"),
    ('{{ $value | printf "%.1f" }}', 3.14159, "3.1"),
    ('{{ printf "%.0f" $value }}', 97.6, "98"),
    ('{{ printf "%5.1f|%-6.2f|" $value $value }}', 2.5, "  2.5|2.50  |"),
    ('{{ printf "%d errors" $value }}', 12.0, "%!d(float64=12) errors"),  # Go's fmt: $value is a float64
    ('{{ printf "%e" $value }}', 1234.5, "1.234500e+03"),
    ('{{ printf "%g" $value }}', 0.5, "0.5"),
    ('{{ printf "%v %s" $value $labels.job }}', 97.25, "97.25 Node"),
    ('{{ printf "%s is at %.1f%%" $labels.instance $value }}', 9.87, "web-3:9100 is at 9.9%"),
    ('{{ printf `%q-raw` }}'.replace("%q", "%%"), 0, "%-raw"),
    ('{{ printf "%.2f" $value }}', math.nan, "NaN"),
    ('{{ printf "%6.2f" $value }}', math.inf, "  +Inf"),
    ('{{ $value | humanize | printf "[%s]" }}', 2e6, "[2M]"),
])
def test_printf_formats_like_go(text, value, expected):
    assert render(text, LABELS, value) == expected


def test_labels_dot_form_external_labels_and_case():
    assert render("{{ .Labels.instance }} = {{ .Value }}", LABELS, 1.5) == "web-3:9100 = 1.5"
    assert render("{{ $labels.job | toUpper }}/{{ .Labels.job | toLower }}", LABELS, 0) == "NODE/node"
    assert render("[{{ $externalLabels.cluster }}{{ .ExternalLabels.region }}]", LABELS, 0) == "[]"
    assert render("[{{ $externalLabels.cluster }}|{{ $externalURL }}]", LABELS, 0, {"cluster": "eu-1"},
                  "https://vigil.example/") == "[eu-1|https://vigil.example/]"
    assert render("{{ $labels.missing | toUpper }}!", LABELS, 0) == "!"
    assert render("{{$value}}|{{  $labels.name  }}", LABELS, 97.25) == "97.25|sshd.service"


@pytest.mark.parametrize("text, expected", [
    ("{{ $labels }}", "map[bytes:1536 instance:web-3:9100 job:Node name:sshd.service]"),
    ("{{ if gt $value 90.0 }}hot{{ else }}ok{{ end }}", "hot"),
    ("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
     "bytes=1536;instance=web-3:9100;job=Node;name=sshd.service;"),
    ('{{ with $labels.instance }}{{ . | reReplaceAll ":.*" "" | title }}{{ end }}', "Web-3"),
    ("{{ $labels.instance | stripPort }}", "web-3"),
    ('{{ if match "^web-" $labels.instance }}web{{ end }}', "web"),
    ("{{- $value -}} ", "97.25"),
    ("{{ $x := humanize $value }}{{ $x }}", "97.25"),
    ('{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" $labels.job }}', "[Node]"),
])
def test_go_template_constructs_prometheus_rules_use(text, expected):
    assert render(text, LABELS, 97.25) == expected
    validate_template(text)


def test_humanize_reads_a_label_as_a_number_and_a_failing_template_says_so_as_prometheus_does():
    assert render("{{ $labels.bytes | humanize1024 }}B", LABELS, 0) == "1.5kiB"
    assert render("{{ $labels.job | humanize }}", LABELS, 0, alert_name="A") == (
        '<error expanding template: error executing template __alert_A: template: __alert_A:1:129: executing '
        '"__alert_A" at <humanize>: error calling humanize: strconv.ParseFloat: parsing "Node": invalid syntax>')


def test_pipes_chain():
    assert render("{{ $value | humanize | toLower }}", {}, 1_500_000) == "1.5m"


def test_text_without_placeholders_is_returned_as_is():
    text = "CPU is hot on every host"
    assert render(text, LABELS, 1) is text
    validate_template(text)


@pytest.mark.parametrize("text, expected", [
    ("{{ $value | nope }}", 'template: __alert:1:12: function "nope" not defined'),
    ("line one\n  {{ nope $value }}", 'template: __alert:2:5: function "nope" not defined'),
    ("{{ $value", "template: __alert:1:9: unclosed action"),
    ("{{ $labls.x }}", 'undefined variable "$labls"'),
    ("{{ if $value }}hot", "unexpected EOF"),
    ("{{ end }}", "unexpected {{end}}"),
])
def test_templates_prometheus_refuses_are_refused_naming_line_and_column(text, expected):
    with pytest.raises(TemplateError) as err:
        validate_template(text)
    assert expected in str(err.value)


@pytest.mark.parametrize("text, position", [
    ('{{ with query "up" }}{{ . | first | value }}{{ end }}', "1:8"),
    ('{{ range query "up" }}{{ .Labels.instance }} {{ end }}', "1:9"),
    ('{{ "up" | query | len }}', "1:10"),
])
def test_query_is_refused_in_a_stream_rule_with_its_position(text, position):
    with pytest.raises(TemplateError, match=f"template: __alert:{position}: `query` is not available in a stream rule"):
        validate_template(text)


def test_a_rule_with_a_bad_template_names_the_field_and_the_annotation():
    raw = {"id": "a", "alert": "A", "metric": "cpu", "threshold": 1,
           "annotations": {"summary": "{{ $value | humanize }}", "description": "{{ $value | nope }}"}}
    with pytest.raises(RuleError, match="annotations: template of 'description': template: __alert:1:12: "
                                        'function "nope" not defined'):
        parse_rule(raw, "rules.yaml: rules[0]")
    raw["annotations"] = {"summary": '{{ with query "up" }}{{ . }}{{ end }}'}
    with pytest.raises(RuleError, match="annotations: template of 'summary': .*`query` is not available"):
        parse_rule(raw, "rules.yaml: rules[0]")


_PIECES = st.sampled_from(["{{", "}}", " ", "|", "$value", ".Value", "$labels.job", ".Labels.x", "$externalLabels.c",
                           "humanize", "humanize1024", "humanizePercentage", "humanizeDuration", "toUpper", "toLower",
                           "printf", '"%.2f"', '"%s %d"', "`%v`", '"%', "if", "x", "-", "42", "\\"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=4), max_size=14).map("".join),
       st.floats(allow_nan=True, allow_infinity=True), st.dictionaries(st.sampled_from(["job", "x"]), st.text(max_size=5)))
def test_any_text_validates_or_is_refused_and_valid_templates_render(text, value, labels):
    try:
        validate_template(text)
    except TemplateError:
        return
    assert isinstance(render(text, labels, value), str)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["{{ $value }}", "{{$value}}", "{{ .Value }}", "{{ $labels.job }}", "{{ .Labels.x }}",
                                 "{{  $labels.missing  }}", " at ", "%", "}", "{", "{{ $value | humanize }}", "é"]),
                max_size=6).map("".join),
       st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**7, 10**7).map(float),
       st.dictionaries(st.sampled_from(["job", "x"]), st.text(max_size=5)))
def test_the_fast_path_for_labels_and_value_renders_what_the_go_engine_renders(text, value, labels):
    assert render(text, labels, value, alert_name="A") == expand_alert(text, labels, value, {}, "", None, 0,
                                                                       alert_name="A")


def test_value_prints_as_go_fmt_does():
    assert [go_value(v) for v in (3.0, 97.25, 1e6, 1234567.0, 1e-5, 0.0001, -0.0, math.nan, math.inf)] == [
        "3", "97.25", "1e+06", "1.234567e+06", "1e-05", "0.0001", "-0", "NaN", "+Inf"]
