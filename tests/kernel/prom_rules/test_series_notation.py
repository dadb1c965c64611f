"""promtool's expanding series notation (checked against promtool 2.42 in golden_test.yml)."""

from __future__ import annotations

import math

import pytest

from kernel.prom_rules.series_notation import SeriesNotationError, parse_series, parse_values
from kernel.promql import is_stale


def test_expansions():
    assert parse_values("1+1x3 _x2 5 _ 2x2 -1-1x2 1e2 0x2") == [
        1, 2, 3, 4, None, None, 5, None, 2, 2, 2, -1, -2, -3, 100, 0, 0, 0]


def test_special_values():
    inf, neg_inf, nan, stale = parse_values("Inf -Inf NaN stale")
    assert inf == math.inf and neg_inf == -math.inf and math.isnan(nan) and not is_stale(nan)
    assert is_stale(stale)


def test_repeated_addition_rounds_like_go():
    assert parse_values("0.1+0.1x2")[-1] == 0.1 + 0.1 + 0.1


@pytest.mark.parametrize("bad", ["1x", "x3", "1+x2", "_3", "abc", "1+1"])
def test_bad_values(bad):
    with pytest.raises(SeriesNotationError):
        parse_values(bad)


def test_series_descriptions():
    assert parse_series('up{job="a", instance=\'b\'}') == {"__name__": "up", "job": "a", "instance": "b"}
    assert parse_series('{__name__="x", a="1",}') == {"__name__": "x", "a": "1"}
    assert parse_series("job:up:sum") == {"__name__": "job:up:sum"}
    with pytest.raises(SeriesNotationError):
        parse_series('up{job=~"a"}')
