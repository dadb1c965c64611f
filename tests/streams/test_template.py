"""Label/annotation templates: every supported pipe renders as Prometheus does, the rest is refused at save time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.rules import RuleError, parse_rule
from streams.template import TemplateError, render, validate_template

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
    ('{{ printf "%d errors" $value }}', 12.0, "12 errors"),
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
    assert render("{{ $labels.missing | toUpper }}!", LABELS, 0) == "!"
    assert render("{{$value}}|{{  $labels.name  }}", LABELS, 97.25) == "97.25|sshd.service"


def test_humanize_reads_a_label_as_a_number_and_leaves_other_text_alone():
    assert render("{{ $labels.bytes | humanize1024 }}B", LABELS, 0) == "1.5kiB"
    assert render("{{ $labels.job | humanize }}", LABELS, 0) == "Node"


def test_pipes_chain():
    assert render("{{ $value | humanize | toLower }}", {}, 1_500_000) == "1.5m"


def test_text_without_placeholders_is_returned_as_is():
    text = "CPU is hot on every host"
    assert render(text, LABELS, 1) is text
    validate_template(text)


@pytest.mark.parametrize("text, expected", [
    ("{{ $value | nope }}", "'nope' is not a supported function"),
    ("{{ nope $value }}", "'nope' is not a supported function"),
    ("{{ $value", "'{{' at position 0 is never closed"),
    ("{{ $value }", "never closed"),
    ("value }} left", "'}}' at position 6 has no opening '{{'"),
    ("{{ $value }} }}", "has no opening"),
    ("{{ $labls.x }}", "'$labls.x' is not supported"),
    ("{{ $labels }}", "'$labels' is not supported"),
    ("{{ .Labels }}", "'.Labels' is not supported"),
    ("{{ $labels.a.b }}", "'$labels.a.b' is not supported"),
    ("{{ $value | toUpper }}", "toUpper takes a string"),
    ("{{ $value | humanize | humanize1024 | toUpper }}", None),  # a string may go on through the pipes
    ('{{ printf "%.2f" $labels.job }}', "printf %f needs a number"),
    ('{{ printf "%.2f %.2f" $value }}', "2 verb(s) for 1 value(s)"),
    ('{{ printf "%.2f" }}', "1 verb(s) for 0 value(s)"),
    ('{{ printf "%x" $value }}', "printf verb '%x' is not supported"),
    ('{{ printf "%.2f" $value $value }}', "1 verb(s) for 2 value(s)"),
    ("{{ printf $value }}", "printf takes a quoted format first"),
    ('{{ printf "%200f" $value }}', "width and precision go up to 100"),
    ('{{ printf "\\q" }}', "an escape Vigil doesn't read"),
    ("{{ humanize }}", "humanize takes one value, got 0"),
    ("{{ $value $value }}", "'$value' is not a function"),
    ("{{ $value | $value }}", "after '|' comes a function"),
    ("{{ $value | }}", "'|' needs something on each side"),
    ("{{ | humanize }}", "'|' needs something on each side"),
    ("{{ }}", "empty placeholder"),
    ("{{ 42 }}", "'4' at position 3 is not supported"),
    ("{{ if $value }}hot{{ end }}", "'if' is not supported"),
    ('{{ with query "up" }}{{ . }}{{ end }}', "'with' is not supported"),
    ("{{- $value }}", "'-' at position 2 is not supported"),
    ("{{ $x := $value }}", "':' at position 6 is not supported"),
])
def test_unsupported_templates_are_refused_naming_the_piece(text, expected):
    if expected is None:
        validate_template(text)
        return
    with pytest.raises(TemplateError) as err:
        validate_template(text)
    assert expected in str(err.value)


def test_a_rule_with_an_unsupported_pipe_names_the_annotation():
    raw = {"id": "a", "alert": "A", "metric": "cpu", "threshold": 1,
           "annotations": {"summary": "{{ $value | humanize }}", "description": "{{ $value | nope }}"}}
    with pytest.raises(RuleError, match="annotations: template of 'description': '{{ \\$value \\| nope }}'"):
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
