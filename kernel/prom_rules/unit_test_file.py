"""promtool's rule unit-test file format (Prometheus 2.42), read strictly with positions.

    rule_files: [rules.yml, more/*.yml]    # relative to the test file; globs
    evaluation_interval: 1m                 # default 1m
    group_eval_order: [g1, g2]
    tests:
      - interval: 1m                        # spacing of input values (no default in 2.42: 0 puts all at t=0)
        name: ...
        external_labels: {...}
        external_url: ...
        input_series: [{series: 'up{job="a"}', values: '1+1x10 _ stale'}]
        alert_rule_test: [{eval_time: 5m, alertname: X, exp_alerts: [{exp_labels: {...}, exp_annotations: {...}}]}]
        promql_expr_test: [{expr: ..., eval_time: 5m, exp_samples: [{labels: 'up{job="a"}', value: 1}]}]

promtool decodes it with yaml.v2 `UnmarshalStrict`, so unknown fields (such as `start_timestamp`,
which later versions added) fail the whole file, as here.
See https://prometheus.io/docs/prometheus/2.42/configuration/unit_testing_rules/ and
https://github.com/prometheus/prometheus/blob/v2.42.0/cmd/promtool/unittest.go.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from kernel.yaml_config import join

from .yaml_source import Source, compose, duration, mapping, scalar, sequence, string_map

DEFAULT_EVALUATION_INTERVAL_MS = 60_000

_FILE_KEYS = ("rule_files", "evaluation_interval", "group_eval_order", "tests")
_GROUP_KEYS = ("interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels",
               "external_url", "name")
_SERIES_KEYS = ("series", "values")
_ALERT_TEST_KEYS = ("eval_time", "alertname", "exp_alerts")
_EXP_ALERT_KEYS = ("exp_labels", "exp_annotations")
_PROMQL_TEST_KEYS = ("expr", "eval_time", "exp_samples")
_SAMPLE_KEYS = ("labels", "value")


@dataclass(frozen=True)
class InputSeries:
    """One input series: its description and value sequence, in promtool's notation."""

    series: str
    values: str
    line: int


@dataclass(frozen=True)
class ExpectedAlert:
    """A firing alert the test expects (`alertname` is added by the runner)."""

    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass(frozen=True)
class AlertTestCase:
    """At `eval_time_ms`, the firing alerts of rule `alertname` must be exactly `expected`."""

    eval_time_ms: int
    alertname: str
    expected: tuple[ExpectedAlert, ...]
    line: int


@dataclass(frozen=True)
class ExpectedSample:
    """A sample a PromQL test expects: labels in series notation, and the value."""

    labels: str
    value: float


@dataclass(frozen=True)
class PromqlTestCase:
    """At `eval_time_ms`, `expr` must return exactly `expected`."""

    expr: str
    eval_time_ms: int
    expected: tuple[ExpectedSample, ...]
    line: int


@dataclass(frozen=True)
class TestGroup:
    """Input series and the tests run against them (each group starts from empty storage)."""

    interval_ms: int
    input_series: tuple[InputSeries, ...]
    alert_tests: tuple[AlertTestCase, ...]
    promql_tests: tuple[PromqlTestCase, ...]
    external_labels: dict[str, str]
    external_url: str
    name: str
    line: int

    def max_eval_time_ms(self) -> int:
        """The latest eval_time of any test: the rules are evaluated from 0 up to it."""
        return max([t.eval_time_ms for t in self.alert_tests] + [t.eval_time_ms for t in self.promql_tests] + [0])


@dataclass(frozen=True)
class UnitTestFile:
    """A whole test file, with rule file patterns resolved and globbed."""

    path: str
    rule_files: tuple[str, ...]
    unmatched_patterns: tuple[str, ...]  # promtool warns about these
    evaluation_interval_ms: int
    group_eval_order: tuple[str, ...]
    tests: tuple[TestGroup, ...]


def load_unit_test_file(path: Path | str) -> UnitTestFile:
    """Read a promtool test file; raises SourceError (file, line, key) for any mistake."""
    path = Path(path)
    source, root = compose(path)
    top = mapping(source, root, "", _FILE_KEYS)
    patterns = [scalar(source, n, join("rule_files", i)) or ""
                for i, n in enumerate(sequence(source, top.get("rule_files"), "rule_files"))]
    interval = duration(source, top.get("evaluation_interval"), "evaluation_interval")
    order = [scalar(source, n, join("group_eval_order", i)) or ""
             for i, n in enumerate(sequence(source, top.get("group_eval_order"), "group_eval_order"))]
    tests = [_test_group(source, n, join("tests", i)) for i, n in enumerate(sequence(source, top.get("tests"), "tests"))]
    source.raise_if_problems()
    rule_files, unmatched = _glob_rule_files(path.parent, patterns)
    return UnitTestFile(str(path), rule_files, unmatched, interval or DEFAULT_EVALUATION_INTERVAL_MS,
                        tuple(order), tuple(tests))


def _glob_rule_files(base: Path, patterns: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # resolveAndGlobFilepaths: relative to the test file's folder; Go's filepath.Glob returns sorted matches
    files: list[str] = []
    unmatched: list[str] = []
    for pattern in patterns:
        if pattern and not os.path.isabs(pattern):
            pattern = os.path.normpath(os.path.join(base, pattern))
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else ([pattern] if os.path.lexists(pattern) else [])
        if not matches:
            unmatched.append(pattern)
        files.extend(matches)
    return tuple(files), tuple(unmatched)


def _test_group(source: Source, node, where: str) -> TestGroup:
    fields = mapping(source, node, where, _GROUP_KEYS)
    series = []
    for i, n in enumerate(sequence(source, fields.get("input_series"), join(where, "input_series"))):
        at = join(join(where, "input_series"), i)
        f = mapping(source, n, at, _SERIES_KEYS)
        series.append(InputSeries(scalar(source, f.get("series"), join(at, "series")) or "",
                                  scalar(source, f.get("values"), join(at, "values")) or "", n.start_mark.line + 1))
    alert_tests = []
    for i, n in enumerate(sequence(source, fields.get("alert_rule_test"), join(where, "alert_rule_test"))):
        at = join(join(where, "alert_rule_test"), i)
        f = mapping(source, n, at, _ALERT_TEST_KEYS)
        expected = []
        for j, e in enumerate(sequence(source, f.get("exp_alerts"), join(at, "exp_alerts"))):
            eat = join(join(at, "exp_alerts"), j)
            ef = mapping(source, e, eat, _EXP_ALERT_KEYS)
            expected.append(ExpectedAlert(string_map(source, ef.get("exp_labels"), join(eat, "exp_labels")),
                                          string_map(source, ef.get("exp_annotations"), join(eat, "exp_annotations"))))
        alert_tests.append(AlertTestCase(duration(source, f.get("eval_time"), join(at, "eval_time")),
                                         scalar(source, f.get("alertname"), join(at, "alertname")) or "",
                                         tuple(expected), n.start_mark.line + 1))
    promql_tests = []
    for i, n in enumerate(sequence(source, fields.get("promql_expr_test"), join(where, "promql_expr_test"))):
        at = join(join(where, "promql_expr_test"), i)
        f = mapping(source, n, at, _PROMQL_TEST_KEYS)
        samples = []
        for j, s in enumerate(sequence(source, f.get("exp_samples"), join(at, "exp_samples"))):
            sat = join(join(at, "exp_samples"), j)
            sf = mapping(source, s, sat, _SAMPLE_KEYS)
            samples.append(ExpectedSample(scalar(source, sf.get("labels"), join(sat, "labels")) or "",
                                          _float(source, sf.get("value"), join(sat, "value"))))
        promql_tests.append(PromqlTestCase(scalar(source, f.get("expr"), join(at, "expr")) or "",
                                           duration(source, f.get("eval_time"), join(at, "eval_time")),
                                           tuple(samples), n.start_mark.line + 1))
    return TestGroup(duration(source, fields.get("interval"), join(where, "interval")), tuple(series),
                     tuple(alert_tests), tuple(promql_tests),
                     string_map(source, fields.get("external_labels"), join(where, "external_labels")),
                     scalar(source, fields.get("external_url"), join(where, "external_url")) or "",
                     scalar(source, fields.get("name"), join(where, "name")) or "",
                     node.start_mark.line + 1 if node is not None else 0)


_YAML_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


def _float(source: Source, node, where: str) -> float:
    text = scalar(source, node, where)
    if text is None:
        return 0.0
    special = _YAML_SPECIAL_FLOATS.get(text.lower())
    if special is not None:
        return special
    try:
        return float(int(text, 0)) if text.lstrip("+-").lower().startswith(("0x", "0o")) else float(text)
    except ValueError:
        source.problem(node, where, f"expected a number, got {text!r}")
        return 0.0
