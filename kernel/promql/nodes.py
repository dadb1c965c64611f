"""The engine's own expression tree: plain, immutable nodes converted once from promql_parser's AST.

Converting keeps evaluation independent of the Rust objects (cheap attribute access, durations in
integer milliseconds, `@` resolved to a number or "start"/"end") and gives each node its static
result type, which decides how operators dispatch (scalar vs. vector), as in Prometheus' parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from .matchers import Matcher

SCALAR, VECTOR, MATRIX, STRING = "scalar", "vector", "matrix", "string"

# `@ start()` / `@ end()`, else an absolute time in ms, else None.
At = Union[int, Literal["start", "end"], None]


@dataclass(frozen=True, eq=False, slots=True)
class NumberLiteral:
    """A float literal."""

    value: float
    type = SCALAR


@dataclass(frozen=True, eq=False, slots=True)
class StringLiteral:
    """A string literal."""

    value: str
    type = STRING


@dataclass(frozen=True, eq=False, slots=True)
class VectorSelector:
    """An instant vector selector; `matchers` includes the __name__ matcher when a name was written."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int
    at: At
    type = VECTOR


@dataclass(frozen=True, eq=False, slots=True)
class MatrixSelector:
    """A range vector selector: `selector[range]`."""

    selector: VectorSelector
    range_ms: int
    type = MATRIX


@dataclass(frozen=True, eq=False, slots=True)
class Subquery:
    """`expr[range:step]`; step_ms 0 means the engine's default subquery step."""

    expr: "Expr"
    range_ms: int
    step_ms: int
    offset_ms: int
    at: At
    type = MATRIX


@dataclass(frozen=True, eq=False, slots=True)
class Paren:
    """Parentheses, kept because timestamp((x)) differs from timestamp(x) in Prometheus."""

    expr: "Expr"

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(frozen=True, eq=False, slots=True)
class Negation:
    """Unary minus (unary plus is dropped by the parser)."""

    expr: "Expr"

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(frozen=True, eq=False, slots=True)
class Binary:
    """A binary operation with its vector-matching modifiers.

    card is "one-to-one", "many-to-one" (group_left), "one-to-many" (group_right) or
    "many-to-many" (set operators); `on` tells whether `matching` lists on() or ignoring() labels.
    """

    op: str
    lhs: "Expr"
    rhs: "Expr"
    card: str
    on: bool
    matching: tuple[str, ...]
    include: tuple[str, ...]
    return_bool: bool
    type: str


@dataclass(frozen=True, eq=False, slots=True)
class Aggregate:
    """An aggregation: `op [by|without (grouping)] ([param,] expr)`."""

    op: str
    expr: "Expr"
    param: "Expr | None"
    without: bool
    grouping: tuple[str, ...]
    type = VECTOR


@dataclass(frozen=True, eq=False, slots=True)
class Call:
    """A function call."""

    func: str
    args: tuple["Expr", ...]
    type: str


Expr = Union[
    NumberLiteral, StringLiteral, VectorSelector, MatrixSelector, Subquery, Paren, Negation, Binary,
    Aggregate, Call,
]


def children(node: Expr) -> tuple[Expr, ...]:
    """Return the direct sub-expressions of `node`."""
    if isinstance(node, (Paren, Negation, Subquery)):
        return (node.expr,)
    if isinstance(node, MatrixSelector):
        return (node.selector,)
    if isinstance(node, Binary):
        return (node.lhs, node.rhs)
    if isinstance(node, Aggregate):
        return (node.param, node.expr) if node.param is not None else (node.expr,)
    if isinstance(node, Call):
        return node.args
    return ()


def walk(node: Expr):
    """Yield `node` and every node below it, depth first."""
    yield node
    for child in children(node):
        yield from walk(child)
