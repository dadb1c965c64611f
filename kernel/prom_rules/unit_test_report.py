"""promtool's failure text for rule unit tests, reproduced so users see the diffs they know.

    alertname: X, time: 5m,                    (model.Duration, as written in the test)
        exp:[
            0:
              Labels:{alertname="X", ...}
              Annotations:{...}
            ],
        got:[]

    expr: "sum(x)", time: 5m,
        exp: {a="1"} 1E+00                     (strconv.FormatFloat(v, 'E', -1, 64))
        got: nil

See https://github.com/prometheus/prometheus/blob/v2.42.0/cmd/promtool/unittest.go
(labelsAndAnnotations.String, indentLines, parsedSamplesString).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernel.gotemplate.strconv import format_float, quote as go_quote

from .durations import format_duration, format_go_duration
from .labelset import Labels, to_text


@dataclass(frozen=True)
class LabelsAndAnnotations:
    """One firing alert as promtool compares it: its labels and annotations, both sorted by name."""

    labels: Labels
    annotations: Labels

    def text(self) -> str:
        """`Labels:{...}\\nAnnotations:{...}`."""
        return "Labels:" + to_text(self.labels) + "\nAnnotations:" + to_text(self.annotations)


@dataclass(frozen=True)
class ParsedSample:
    """One sample as promtool compares it: labels and value."""

    labels: Labels
    value: float

    def text(self) -> str:
        """`{a="1"} 1E+00`."""
        return to_text(self.labels) + " " + format_float(self.value, "E", -1)


def indent_lines(lines: str, indent: str) -> str:
    """promtool's indentLines: every line but the first gets `indent`."""
    return ("\n" + indent).join(lines.split("\n"))


def alerts_text(alerts: Sequence[LabelsAndAnnotations]) -> str:
    """labelsAndAnnotations.String: `[]`, or numbered entries one per block."""
    if not alerts:
        return "[]"
    parts = [f"{i}:" + indent_lines("\n" + a.text(), "  ") for i, a in enumerate(alerts)]
    return "[\n" + ",\n".join(parts) + "\n]"


def samples_text(samples: Sequence[ParsedSample]) -> str:
    """parsedSamplesString: `nil`, or the samples separated by `, `."""
    if not samples:
        return "nil"
    return ", ".join(s.text() for s in samples)


def alert_mismatch(group_name: str, alertname: str, eval_time_ms: int,
                   expected: Sequence[LabelsAndAnnotations], got: Sequence[LabelsAndAnnotations]) -> str:
    """The failure block of an alert_rule_test."""
    name = f"    name: {group_name},\n" if group_name else ""
    exp = indent_lines(alerts_text(expected), " " * 12)
    gotten = indent_lines(alerts_text(got), " " * 12)
    return (f"{name}    alertname: {alertname}, time: {format_duration(eval_time_ms)}, \n"
            f"        exp:{exp}, \n        got:{gotten}")


def promql_mismatch(expr: str, eval_time_ms: int, expected: Sequence[ParsedSample], got: Sequence[ParsedSample]) -> str:
    """The failure block of a promql_expr_test."""
    return (f"    expr: {go_quote(expr)}, time: {format_duration(eval_time_ms)},\n"
            f"        exp: {samples_text(expected)}\n        got: {samples_text(got)}")


def promql_error(expr: str, eval_time_ms: int, error: str) -> str:
    """A promql_expr_test whose query (or expected labels) failed."""
    return f"    expr: {go_quote(expr)}, time: {format_duration(eval_time_ms)}, err: {error}"


def rule_error(rule: str, at_ms: int, error: str) -> str:
    """A rule that failed to evaluate during a test (promtool stops the test group there)."""
    return f"    rule: {rule}, time: {format_go_duration(at_ms)}, err: {error}"
