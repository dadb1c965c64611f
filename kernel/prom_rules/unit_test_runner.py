"""`vigil rules test`: promtool's rule unit-test runner (Prometheus 2.42), loop for loop.

For each test group: load the input series into empty storage, evaluate every rule group at
0, interval, 2·interval, … up to the largest eval_time (input samples become visible as time
reaches them), and after each step compare the alert tests whose eval_time falls in
[step, step + interval) with the alerts firing then; a rule that fails to evaluate stops the group.
PromQL tests run at the end, against the series plus everything the rules wrote.
Comparisons are promtool's: sorted by labels (then annotations), exact label sets (empty expected
values are not dropped), exact floats (2.42 has no tolerance; NaN never equals NaN).
See https://github.com/prometheus/prometheus/blob/v2.42.0/cmd/promtool/unittest.go.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import TextIO

from kernel.promql import Engine, MemoryStorage, PromQLError

from .durations import format_duration
from .files import RuleGroupSpec, load_rule_file
from .group import RuleGroup
from .labelset import ALERT_NAME, compare, from_map
from .rule_query import RuleEvaluationError, engine_query_func
from .series_notation import SeriesNotationError, parse_series, parse_values
from .templates import alert_expander
from .tsdb_appender import HeadAppender
from .unit_test_file import TestGroup, UnitTestFile, load_unit_test_file
from .unit_test_report import (
    LabelsAndAnnotations, ParsedSample, alert_mismatch, promql_error, promql_mismatch, rule_error,
)
from .yaml_source import SourceError

LOOKBACK_DELTA_MS = 300_000


class CaseKind(Enum):
    """The two kinds of test case."""

    ALERT = "alert_rule_test"
    PROMQL = "promql_expr_test"


@dataclass(frozen=True)
class CaseResult:
    """One test case's outcome; `index` is its position in its group's list of that kind."""

    group: int
    kind: CaseKind
    index: int
    subject: str  # alertname or expr
    eval_time_ms: int
    passed: bool


@dataclass(frozen=True)
class FileResult:
    """A test file's outcome: promtool's error blocks (empty when it passed) and every case's result."""

    path: str
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        """True when promtool would print SUCCESS."""
        return not self.errors


def run_test_files(paths: Iterable[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run test files, printing as promtool does; returns the exit code (0 all passed, 1 otherwise)."""
    out = out or sys.stdout
    err = err or sys.stderr
    failed = False
    for path in paths:
        print("Unit Testing: ", path, file=out)
        result = run_test_file(path)
        for warning in result.warnings:
            print(warning, file=err)
        if result.errors:
            print("  FAILED:", file=err)
            for block in result.errors:
                print(block, file=err)
                print(file=out)
            failed = True
        else:
            print("  SUCCESS", file=out)
        print(file=out)
    return 1 if failed else 0


def run_test_file(path: str) -> FileResult:
    """Run every test group of one promtool test file."""
    try:
        test_file = load_unit_test_file(path)
    except SourceError as exc:
        return FileResult(path, (str(exc),), (), ())
    warnings = tuple(f"  WARNING: no file match pattern {p}" for p in test_file.unmatched_patterns)
    order: dict[str, int] = {}
    for i, name in enumerate(test_file.group_eval_order):
        if name in order:
            return FileResult(path, (f"group name repeated in evaluation order: {name}",), warnings, ())
        order[name] = i
    try:
        specs = [g for f in test_file.rule_files for g in load_rule_file(f).groups]
        load_error = None
    except SourceError as exc:
        specs, load_error = [], str(exc)
    specs.sort(key=lambda g: order.get(g.name, 0))  # stable: file order among equals
    errors: list[str] = []
    cases: list[CaseResult] = []
    for gi, group in enumerate(test_file.tests):
        if load_error is not None:
            errors.append(load_error)
            cases.extend(_all_failed(gi, group))
            continue
        group_errors, group_cases = _run_group(test_file, gi, group, specs)
        errors.extend(group_errors)
        cases.extend(group_cases)
    return FileResult(path, tuple(errors), warnings, tuple(cases))


def _run_group(test_file: UnitTestFile, gi: int, tg: TestGroup,
               specs: list[RuleGroupSpec]) -> tuple[list[str], list[CaseResult]]:
    storage = MemoryStorage()
    appender = HeadAppender(storage)
    engine = Engine(storage, LOOKBACK_DELTA_MS, default_subquery_step_ms=test_file.evaluation_interval_ms)
    query = engine_query_func(engine)
    try:
        inputs = _input_samples(tg)
    except SeriesNotationError as exc:
        return [f"error in input_series: {exc}"], _all_failed(gi, tg)
    for case in tg.alert_tests:
        if case.alertname == "":
            where = f" (in TestGroup {tg.name})" if tg.name else ""
            return ([f"an item under alert_rule_test misses required attribute alertname at eval_time "
                     f"{format_duration(case.eval_time_ms)}{where}"], _all_failed(gi, tg))
    expand = alert_expander(tg.external_labels, tg.external_url, query)
    groups = [RuleGroup(spec, query=query, expand=expand, appender=appender,
                        default_interval_ms=tg.interval_ms, external_url=tg.external_url) for spec in specs]

    interval = test_file.evaluation_interval_ms
    alert_times = sorted({c.eval_time_ms for c in tg.alert_tests})
    errors: list[str] = []
    results: dict[tuple[CaseKind, int], CaseResult] = {}
    next_input = 0
    curr = 0
    ts = 0
    while ts <= tg.max_eval_time_ms():
        while next_input < len(inputs) and inputs[next_input][0] <= ts:
            at, labels, value = inputs[next_input]
            appender.load(labels, at, value)
            next_input += 1
        eval_errors = []
        for group in groups:
            group.evaluate(ts)
            eval_errors += [rule_error(r.name, ts, e) for r, e in zip(group.rules, group.last_errors) if e]
        if eval_errors:  # promtool stops this test group at the first step where a rule failed
            return errors + eval_errors, _merge(results, _all_failed(gi, tg))
        while curr < len(alert_times) and ts <= alert_times[curr] < ts + interval:
            t = alert_times[curr]
            for index, case in enumerate(tg.alert_tests):
                if case.eval_time_ms == t:
                    mismatch = _check_alerts(tg, case, groups)
                    if mismatch:
                        errors.append(mismatch)
                    results[(CaseKind.ALERT, index)] = CaseResult(gi, CaseKind.ALERT, index, case.alertname, t,
                                                                  mismatch is None)
            curr += 1
        if interval <= 0:
            break
        ts += interval

    for index, promql_case in enumerate(tg.promql_tests):
        mismatch = _check_promql(promql_case, query)
        if mismatch:
            errors.append(mismatch)
        results[(CaseKind.PROMQL, index)] = CaseResult(gi, CaseKind.PROMQL, index, promql_case.expr,
                                                       promql_case.eval_time_ms, mismatch is None)
    return errors, _merge(results, _all_failed(gi, tg))


def _input_samples(tg: TestGroup) -> list[tuple[int, tuple, float]]:
    samples = []
    for series in tg.input_series:
        labels = tuple(sorted(parse_series(series.series).items()))
        for i, value in enumerate(parse_values(series.values)):
            if value is not None:
                samples.append((i * tg.interval_ms, labels, value))
    samples.sort(key=lambda s: s[0])  # stable: series order within a timestamp, as the loader appends
    return samples


def _check_alerts(tg: TestGroup, case, groups: list[RuleGroup]) -> str | None:
    got = [LabelsAndAnnotations(a.labels, a.annotations)
           for g in groups for r in g.alerting_rules() if r.name == case.alertname
           for a in r.active.values() if a.state.value == "firing"]
    expected = [LabelsAndAnnotations(from_map({**e.labels, ALERT_NAME: case.alertname}), from_map(e.annotations))
                for e in case.expected]
    got.sort(key=functools.cmp_to_key(_alert_order))
    expected.sort(key=functools.cmp_to_key(_alert_order))
    if got == expected:
        return None
    return alert_mismatch(tg.name, case.alertname, case.eval_time_ms, expected, got)


def _alert_order(a: LabelsAndAnnotations, b: LabelsAndAnnotations) -> int:
    return compare(a.labels, b.labels) or compare(a.annotations, b.annotations)


def _check_promql(case, query) -> str | None:
    try:
        result = query(case.expr, case.eval_time_ms)
    except (RuleEvaluationError, PromQLError) as exc:
        return promql_error(case.expr, case.eval_time_ms, str(exc))
    got = [ParsedSample(s.labels, s.value) for s in result]
    expected = []
    for sample in case.expected:
        try:
            # parser.ParseMetric drops empty-valued labels, unlike exp_labels of alert tests
            labels = tuple(sorted((n, v) for n, v in parse_series(sample.labels).items() if v != "")) \
                if sample.labels.strip() else ()
        except SeriesNotationError as exc:
            return promql_error(case.expr, case.eval_time_ms, f"labels {sample.labels!r}: {exc}")
        expected.append(ParsedSample(labels, sample.value))
    order = functools.cmp_to_key(_sample_order)
    got.sort(key=order)
    expected.sort(key=order)
    # reflect.DeepEqual on float64 uses ==: NaN never equals NaN
    if len(got) == len(expected) and all(g.labels == e.labels and g.value == e.value for g, e in zip(got, expected)):
        return None
    return promql_mismatch(case.expr, case.eval_time_ms, expected, got)


def _sample_order(a: ParsedSample, b: ParsedSample) -> int:
    return compare(a.labels, b.labels)


def _all_failed(gi: int, tg: TestGroup) -> list[CaseResult]:
    return ([CaseResult(gi, CaseKind.ALERT, i, c.alertname, c.eval_time_ms, False) for i, c in enumerate(tg.alert_tests)]
            + [CaseResult(gi, CaseKind.PROMQL, i, c.expr, c.eval_time_ms, False) for i, c in enumerate(tg.promql_tests)])


def _merge(results: dict[tuple[CaseKind, int], CaseResult], defaults: list[CaseResult]) -> list[CaseResult]:
    # cases never reached (an aborted group) count as failed
    return [results.get((c.kind, c.index), c) for c in defaults]

