"""Prometheus label matchers (`name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`): parse and match.

Semantics follow Prometheus: regexes are fully anchored, a missing label is the empty string,
so `name=""` selects series without the label. https://prometheus.io/docs/prometheus/latest/querying/basics/#time-series-selectors
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*$')
MAX_REGEX_LEN = 1024


class MatcherError(ValueError):
    """A matcher that doesn't parse or whose regex doesn't compile."""


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; `matches(labels)` applies it to a series' labels."""

    name: str
    op: Op
    value: str
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: Op, value: str) -> Matcher:
        """A matcher with its regex compiled (anchored, as Prometheus does)."""
        regex = None
        if op in ("=~", "!~"):
            if len(value) > MAX_REGEX_LEN:
                raise MatcherError(f"regex of '{name}' is longer than {MAX_REGEX_LEN} characters")
            try:
                regex = re.compile(f"(?:{value})\\Z", re.DOTALL)
            except re.error as exc:
                raise MatcherError(f"'{name}{op}\"{value}\"': invalid regex: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: dict[str, str]) -> bool:
        """True when the series labels satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = self._regex.match(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"


def parse_matcher(text: str) -> Matcher:
    """`job=~"api|web"` → Matcher; MatcherError says what was expected."""
    m = _MATCHER.match(text)
    if m is None:
        raise MatcherError(f"'{text}' is not a label matcher like name=\"value\", name!=\"v\", name=~\"re\" "
                           "or name!~\"re\"")
    name, op, quoted = m.groups()
    try:
        value = json.loads(quoted) if quoted.startswith('"') else quoted[1:-1].replace("\\'", "'")
    except json.JSONDecodeError as exc:
        raise MatcherError(f"'{text}': bad escape in the quoted value: {exc.msg}") from None
    return Matcher.make(name, op, value)
