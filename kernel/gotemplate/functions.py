"""How a Go template function is described: its Python body and its Go parameter types.

Go's text/template type-checks every call against the function's signature (`wrong number of args
for f: want 1 got 2`, `wrong type for value; expected string; got float64`) and passes literal
arguments according to the parameter's type; the engine needs the signature to do the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Parameter types the engine understands. Anything else is a Go type name checked by go_type().
ANY = "interface {}"
VALUE = "reflect.Value"  # builtins that take the raw value (and, or, eq, index, len, ...)
STRING = "string"
FLOAT64 = "float64"
INT = "int"
BOOL = "bool"


class GoError(Exception):
    """An error a template function returns (Go's `(result, error)`); the message is shown as is."""


@dataclass(frozen=True, slots=True)
class Func:
    """A template function: `fn` and its Go signature (fixed parameter types, then `...variadic`)."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None
    short_circuit: bool = False  # Go 1.18+ `and`/`or` evaluate their arguments lazily

    def param_type(self, index: int, count: int) -> str:
        """The Go type of argument `index` when `count` arguments are passed."""
        if self.variadic is not None and index >= len(self.params):
            return self.variadic
        return self.params[index]


def as_func(value: Callable[..., Any] | Func) -> Func:
    """A caller's plain Python callable as a Func whose parameters all take any value."""
    if isinstance(value, Func):
        return value
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return Func(value, (), ANY)
    params: list[str] = []
    variadic = None
    for p in signature.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            variadic = ANY
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            params.append(ANY)
    return Func(value, tuple(params), variadic)
