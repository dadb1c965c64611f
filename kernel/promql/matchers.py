"""Label matchers (=, !=, =~, !~) with fully anchored RE2 regexes, compiled once per pattern.

Prometheus anchors every matcher regex as ^(?:re)$ (model/labels/matcher.go) and uses Go's RE2 syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import re2

from .errors import PromQLError

OPS = ("=", "!=", "=~", "!~")


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> "re2._Regexp":
    """Compile `pattern` anchored at both ends, as Prometheus does; cached per pattern."""
    try:
        return re2.compile("^(?:" + pattern + ")$")
    except Exception as exc:  # re2.error has no stable public base class
        raise PromQLError(f"invalid regular expression {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector; a missing label matches as the empty string."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise PromQLError(f"unknown matcher operator {self.op!r}, expected one of {OPS}")
        if self.op in ("=~", "!~"):
            compile_anchored(self.value)  # fail early on a bad regex

    def matches(self, v: str) -> bool:
        """Tell whether label value `v` (empty string for a missing label) satisfies the matcher."""
        op = self.op
        if op == "=":
            return v == self.value
        if op == "!=":
            return v != self.value
        hit = compile_anchored(self.value).search(v) is not None
        return hit if op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: list[Matcher] | tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    """Tell whether a label set satisfies every matcher."""
    for m in matchers:
        if not m.matches(labels.get(m.name, "")):
            return False
    return True
