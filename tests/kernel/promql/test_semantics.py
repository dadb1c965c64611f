"""Tricky Prometheus semantics, checked directly: staleness, lookback, extrapolation edges,
group_left label copying, `bool`, NaN/Inf, range queries, errors and the public interface."""

from __future__ import annotations

import math
import time

import pytest

from kernel.promql import (
    STALE_NAN, Engine, Matcher, MemoryStorage, PromQLError, Scalar, Series, is_stale, parse, selectors,
)

M = 60_000


def _storage(*series: tuple[dict, list]) -> MemoryStorage:
    storage = MemoryStorage()
    for labels, values in series:
        for i, v in enumerate(values):
            if v is not None:
                storage.add(labels, i * M, v)
    return storage


def _values(result) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in result}


def test_staleness_marker_ends_a_series_before_lookback_expires():
    engine = Engine(_storage(({"__name__": "x"}, [1, 2, STALE_NAN])))
    assert _values(engine.instant("x", 1 * M)) == {(("__name__", "x"),): 2}
    assert engine.instant("x", 2 * M) == []
    assert is_stale(STALE_NAN) and not is_stale(math.nan)


def test_lookback_window_includes_its_start_and_is_configurable():
    engine = Engine(_storage(({"__name__": "x"}, [1])), lookback_delta_ms=5 * M)
    assert len(engine.instant("x", 5 * M)) == 1
    assert engine.instant("x", 5 * M + 1) == []
    assert Engine(engine.storage, lookback_delta_ms=M).instant("x", 2 * M) == []


def test_rate_extrapolation_stops_at_zero_for_counters_and_at_gaps():
    engine = Engine(_storage(({"__name__": "c"}, [None, None, 10, 20, 30])))
    # Counter starting from 10: extrapolation toward the window start stops where it would hit 0.
    assert engine.instant("increase(c[5m])", 4 * M)[0].value == pytest.approx(30.0)
    assert engine.instant("rate(c[1m])", 4 * M)[0].value == pytest.approx(10 / 60)
    assert engine.instant("rate(c[30s])", 4 * M) == []  # one sample: no rate


def test_counter_reset_is_compensated():
    engine = Engine(_storage(({"__name__": "c"}, [0, 10, 20, 5, 15])))
    assert engine.instant("increase(c[4m])", 4 * M)[0].value == pytest.approx(35 * 1.0)
    assert engine.instant("resets(c[4m])", 4 * M)[0].value == 1
    assert engine.instant("irate(c[4m])", 4 * M)[0].value == pytest.approx(10 / 60)


def test_group_left_copies_labels_from_the_one_side():
    engine = Engine(_storage(
        ({"__name__": "m", "instance": "a", "cpu": "0"}, [1]),
        ({"__name__": "m", "instance": "a", "cpu": "1"}, [2]),
        ({"__name__": "info", "instance": "a", "version": "1.2"}, [1]),
    ))
    out = _values(engine.instant("m * on(instance) group_left(version) info", 0))
    assert out == {
        (("cpu", "0"), ("instance", "a"), ("version", "1.2")): 1,
        (("cpu", "1"), ("instance", "a"), ("version", "1.2")): 2,
    }
    with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
        engine.instant("m * on(instance) info", 0)


def test_bool_keeps_every_sample_and_drops_the_name():
    engine = Engine(_storage(({"__name__": "x", "a": "1"}, [1]), ({"__name__": "x", "a": "2"}, [5])))
    assert _values(engine.instant("x > bool 2", 0)) == {(("a", "1"),): 0, (("a", "2"),): 1}
    assert _values(engine.instant("x > 2", 0)) == {(("__name__", "x"), ("a", "2")): 5}
    assert engine.instant("1 < bool 2", 0) == Scalar(1.0, 0)


def test_nan_and_inf_follow_ieee_and_go():
    engine = Engine(_storage(({"__name__": "x"}, [math.nan]), ({"__name__": "y"}, [math.inf])))
    assert engine.instant("x == x", 0) == []
    assert engine.instant("x != bool x", 0)[0].value == 1
    assert engine.instant("y - y", 0)[0].value != engine.instant("y - y", 0)[0].value
    assert engine.instant("1 / 0", 0).value == math.inf
    assert math.isnan(engine.instant("0 % 0", 0).value)
    assert engine.instant("ln(vector(0))", 0)[0].value == -math.inf


def test_range_query_matches_instant_queries_at_each_step():
    engine = Engine(_storage(({"__name__": "c", "j": "a"}, [i * 3.0 for i in range(20)])))
    matrix = engine.range("rate(c[3m]) * 60", 5 * M, 15 * M, 2 * M)
    assert len(matrix) == 1 and matrix[0].labels == {"j": "a"}
    assert matrix[0].timestamps == list(range(5 * M, 15 * M + 1, 2 * M))
    for t, v in zip(matrix[0].timestamps, matrix[0].values):
        assert v == engine.instant("rate(c[3m]) * 60", t)[0].value
    scalar = engine.range("time()", 0, 2 * M, M)
    assert isinstance(scalar[0], Series) and scalar[0].values == [0, 60, 120]
    with pytest.raises(PromQLError, match="range query"):
        engine.range("c[5m]", 0, M, M)


def test_subquery_steps_are_aligned_to_absolute_multiples():
    engine = Engine(_storage(({"__name__": "x"}, list(range(30)))))
    points = engine.instant("x[5m:2m]", 10 * M + 30_000)[0].timestamps
    assert points == [6 * M, 8 * M, 10 * M]


def test_parse_errors_are_promql_errors_and_2_42_limits_hold():
    for bad in ("rate(x[5m]", "limitk(1, x)", "x{a=\"1\" or b=\"2\"}", "sort_by_label(x, \"a\")"):
        with pytest.raises(PromQLError):
            parse(bad)
    assert selectors("a + b{c=~\"d\"}") == [
        [Matcher("__name__", "=", "a")], [Matcher("__name__", "=", "b"), Matcher("c", "=~", "d")],
    ]


def test_matchers_are_fully_anchored_re2():
    assert Matcher("a", "=~", "fo+").matches("foo")
    assert not Matcher("a", "=~", "fo").matches("foo")
    assert Matcher("a", "!~", "b|c").matches("")
    with pytest.raises(PromQLError):
        Matcher("a", "=~", "(")


def test_many_series_are_not_quadratic():
    storage = MemoryStorage()
    for i in range(20_000):
        storage.add({"__name__": "m", "i": str(i), "g": str(i % 10)}, 0, float(i))
        storage.add({"__name__": "n", "i": str(i)}, 0, 1.0)
    engine = Engine(storage)
    started = time.perf_counter()
    assert len(engine.instant("sum by (g) (m * on(i) group_left n)", 0)) == 10
    assert time.perf_counter() - started < 5
