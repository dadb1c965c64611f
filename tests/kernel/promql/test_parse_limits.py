"""Hostile expressions are PromQLErrors, never a crash of the process that parses them."""

from __future__ import annotations

import pytest

from kernel.promql import PromQLError, parse


@pytest.mark.parametrize("expr, reason", [
    ("x[1e400]", "Duration"),  # the Rust parser panics on it: a BaseException, turned into PromQLError
    ("(" * 5000 + "1" + ")" * 5000, r"nests too deeply \(5000 levels"),  # would overflow the parser's native stack
])
def test_hostile_expressions_are_errors(expr, reason):
    with pytest.raises(PromQLError, match=reason):
        parse(expr)


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert parse('sum(x{a="' + "(" * 300 + '"})') is not None
