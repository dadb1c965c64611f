"""Parse PromQL text with promql_parser (Prometheus' grammar) into the engine's nodes.

promql_parser follows Prometheus 2.45 and accepts a few things 2.42 does not (``or`` inside label
matchers, ``fill()`` modifiers, newer functions and aggregations); those are rejected here so rules
that Prometheus 2.42 refuses are refused by us too. It lacks 2.42's ``holt_winters`` (renamed later),
which is registered as an extra function.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import promql_parser as pp

from .errors import PromQLError
from .matchers import Matcher
from .model import METRIC_NAME
from .nodes import (
    MATRIX, SCALAR, STRING, VECTOR, Aggregate, At, Binary, Call, Expr, MatrixSelector, Negation,
    NumberLiteral, Paren, StringLiteral, Subquery, VectorSelector, walk,
)

# Prometheus v2.42 promql/functions.go FunctionCalls, minus nothing: native-histogram functions
# parse and return nothing for float series.
FUNCTIONS_2_42 = frozenset("""
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
clamp_max clamp_min cos cosh count_over_time days_in_month day_of_month day_of_week day_of_year deg
delta deriv exp floor histogram_count histogram_sum histogram_fraction histogram_quantile
holt_winters hour idelta increase irate label_replace label_join last_over_time ln log10 log2
max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad
rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time
sum_over_time tan tanh time timestamp vector year
""".split())

AGGREGATIONS_2_42 = frozenset(
    "sum avg count min max group stddev stdvar topk bottomk quantile count_values".split()
)

# promql_parser's enums are not hashable: key these tables by the member's name.
_TYPES = {"Vector": VECTOR, "Scalar": SCALAR, "Matrix": MATRIX, "String": STRING}
_MATCH_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_CARD = {
    "OneToOne": "one-to-one", "ManyToOne": "many-to-one",
    "OneToMany": "one-to-many", "ManyToMany": "many-to-many",
}


def _enum_name(member) -> str:
    return str(member).rsplit(".", 1)[-1]
_SET_OPS = frozenset({"and", "or", "unless"})
_SYSTEM_TIME = re.compile(r"tv_sec:\s*(-?\d+),\s*tv_nsec:\s*(\d+)")


def _register_holt_winters() -> None:
    fn = pp.Function(
        "holt_winters",
        [pp.ValueType.Matrix, pp.ValueType.Scalar, pp.ValueType.Scalar],
        pp.ValueType.Vector,
    )
    try:
        pp.register_extra_functions([fn])
    except ValueError:  # already registered (or became built in): either way it parses
        pass


_register_holt_winters()


def parse(expr: str) -> Expr:
    """Parse PromQL text into the engine's expression tree; raise PromQLError when it is invalid."""
    return _parse_cached(expr)


MAX_NESTING = 256  # promql_parser recurses per level and overflows the native stack (a crash) near 10,000


@lru_cache(maxsize=2048)
def _parse_cached(expr: str) -> Expr:
    depth = _nesting(expr)
    if depth > MAX_NESTING:
        raise PromQLError(f"parse error in {expr[:80]!r}…: the expression nests too deeply "
                          f"({depth} levels, limit {MAX_NESTING})")
    try:
        tree = pp.parse(expr)
    except ValueError as exc:
        raise PromQLError(f"parse error in {expr!r}: {exc}") from None
    except BaseException as exc:  # a Rust panic (pyo3's PanicException), e.g. on x[1e400]
        if type(exc).__name__ != "PanicException":
            raise
        raise PromQLError(f"parse error in {expr!r}: {exc}") from None
    try:
        return _convert(tree)
    except PromQLError as exc:
        raise PromQLError(f"parse error in {expr!r}: {exc}") from None


def _nesting(expr: str) -> int:
    """The deepest nesting of brackets outside string literals."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in expr:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def selectors(expr: str | Expr) -> list[list[Matcher]]:
    """Return the matchers of every vector/matrix selector in `expr` (for prefetching or planning)."""
    node = parse(expr) if isinstance(expr, str) else expr
    return [list(n.matchers) for n in walk(node) if isinstance(n, VectorSelector)]


def duration_ms(td: dt.timedelta | None) -> int:
    """Convert a parsed duration to whole milliseconds (negative offsets included)."""
    if td is None:
        return 0
    return td.days * 86_400_000 + td.seconds * 1000 + td.microseconds // 1000


def _at(owner) -> At:
    at = owner.at
    if at is None:
        return None
    if at.type == pp.AtModifierType.Start:
        return "start"
    if at.type == pp.AtModifierType.End:
        return "end"
    # Read the time from the node's repr: promql_parser panics converting times before 1970.
    found = _SYSTEM_TIME.findall(repr(owner))
    if not found:
        raise PromQLError("cannot read the @ timestamp")
    sec, nsec = found[-1]  # a subquery prints its own @ after its inner expression's
    return int(sec) * 1000 + int(nsec) // 1_000_000


def _convert(node) -> Expr:
    kind = type(node).__name__
    convert = _CONVERTERS.get(kind)
    if convert is None:
        raise PromQLError(f"unsupported expression node {kind}")
    return convert(node)


def _vector_selector(node) -> VectorSelector:
    if node.matchers.or_matchers:
        raise PromQLError("'or' inside label matchers is not supported by Prometheus 2.42")
    matchers = [Matcher(m.name, _MATCH_OPS[_enum_name(m.op)], m.value) for m in node.matchers.matchers]
    if node.name is not None:
        matchers.insert(0, Matcher(METRIC_NAME, "=", node.name))
    return VectorSelector(node.name, tuple(matchers), duration_ms(node.offset), _at(node))


def _matrix_selector(node) -> MatrixSelector:
    return MatrixSelector(_vector_selector(node.vector_selector), duration_ms(node.range))


def _subquery(node) -> Subquery:
    return Subquery(
        _convert(node.expr), duration_ms(node.range), duration_ms(node.step),
        duration_ms(node.offset), _at(node),
    )


def _binary(node) -> Binary:
    op = str(node.op).lower()
    lhs, rhs = _convert(node.lhs), _convert(node.rhs)
    mod = node.modifier
    card, on, matching, include, return_bool = "one-to-one", False, (), (), False
    if mod is not None:
        fill = mod.fill_values
        if fill is not None and (fill.lhs is not None or fill.rhs is not None):
            raise PromQLError("fill() modifiers are not supported by Prometheus 2.42")
        card = _CARD[_enum_name(mod.card)]
        if mod.matching is not None:
            on = mod.matching.type == pp.LabelModifierType.Include
            matching = tuple(mod.matching.labels)
        include = tuple(mod.group_labels or ())
        return_bool = bool(mod.return_bool)
    if op in _SET_OPS:
        card = "many-to-many"
    kind = SCALAR if lhs.type == SCALAR and rhs.type == SCALAR else VECTOR
    return Binary(op, lhs, rhs, card, on, matching, include, return_bool, kind)


def _aggregate(node) -> Aggregate:
    op = str(node.op).lower()
    if op not in AGGREGATIONS_2_42:
        raise PromQLError(f"aggregation {op!r} is not supported by Prometheus 2.42")
    without, grouping = False, ()
    if node.modifier is not None:
        without = node.modifier.type == pp.AggModifierType.Without
        grouping = tuple(node.modifier.labels)
    param = _convert(node.param) if node.param is not None else None
    return Aggregate(op, _convert(node.expr), param, without, grouping)


def _call(node) -> Call:
    name = node.func.name
    if name not in FUNCTIONS_2_42:
        raise PromQLError(f"unknown function with name {name!r} (not in Prometheus 2.42)")
    args = tuple(_convert(a) for a in node.args)
    return Call(name, args, _TYPES[_enum_name(node.func.return_type)])


# The converter of each promql_parser node class, by class name.
_CONVERTERS: dict[str, Callable[[Any], Expr]] = {
    "NumberLiteral": lambda n: NumberLiteral(float(n.val)),
    "StringLiteral": lambda n: StringLiteral(n.val),
    "VectorSelector": _vector_selector,
    "MatrixSelector": _matrix_selector,
    "SubqueryExpr": _subquery,
    "ParenExpr": lambda n: Paren(_convert(n.expr)),
    "UnaryExpr": lambda n: Negation(_convert(n.expr)),
    "BinaryExpr": _binary,
    "AggregateExpr": _aggregate,
    "Call": _call,
}
