"""A parsed Go template, ready to run many times: `parse(text)` once, `execute(data)` per alert.

Parsing checks function names against the functions known at parse time, as Go's does; by default
those are Go's builtins and Prometheus' template functions, so a template Prometheus would reject
is rejected here too. Parsed templates are cached by (text, name, function names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from . import nodes as n
from .builtins import BUILTINS
from .execute import State
from .functions import Func, as_func
from .parser import parse_trees
from .prometheus_funcs import PROMETHEUS_FUNC_NAMES, PURE_FUNCS

DEFAULT_FUNC_NAMES = frozenset(BUILTINS) | PROMETHEUS_FUNC_NAMES
_DEFAULT_FUNCS: dict[str, Func] = {**BUILTINS, **PURE_FUNCS}


class Template:
    """A parsed template: the main body and any `{{define}}`d templates, by name."""

    __slots__ = ("name", "text", "trees")

    def __init__(self, name: str, text: str, trees: Mapping[str, n.ListNode]) -> None:
        self.name = name
        self.text = text
        self.trees = trees

    def execute(self, data: Any, funcs: Mapping[str, Callable[..., Any] | Func] | None = None) -> str:
        """Run the template with `data` as dot; raise TemplateError (worded as Go's) when it fails.

        Go's builtins and Prometheus' pure functions (humanize, reReplaceAll, ...) are always there;
        `funcs` adds to or overrides them. `query`, `externalURL` and `pathPrefix` depend on the
        evaluation: pass them (prometheus_funcs(...) builds all three, as expand_alert does).
        """
        table: dict[str, Func] = dict(_DEFAULT_FUNCS)
        if funcs:
            table.update((name, as_func(fn)) for name, fn in funcs.items())
        return State(self.text, self.name, self.trees, table, self.name).run(data, self.trees[self.name])

    def __repr__(self) -> str:
        return f"Template({self.name!r}, {self.text[:40]!r})"


def parse(text: str, name: str = "__alert", func_names: Iterable[str] | None = None) -> Template:
    """Parse `text`; raise TemplateError (naming line:col) for unknown functions, bad syntax, etc.

    `func_names` are the functions the template may call besides Go's builtins; by default,
    Prometheus' template functions.
    """
    names = DEFAULT_FUNC_NAMES if func_names is None else frozenset(BUILTINS) | frozenset(func_names)
    return _parse_cached(text, name, names)


@lru_cache(maxsize=4096)
def _parse_cached(text: str, name: str, func_names: frozenset[str]) -> Template:
    return Template(name, text, parse_trees(text, name, func_names))
