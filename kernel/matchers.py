"""Prometheus label matchers (`name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`): parse and match.

Semantics follow Prometheus: regexes are fully anchored, `.` matches a newline, a missing label
is the empty string, so `name=""` selects series without the label.
https://prometheus.io/docs/prometheus/latest/querying/basics/#time-series-selectors

Regexes are RE2 (google-re2), the syntax Prometheus and VictoriaMetrics use: a rule that works
here works in backtest and in Prometheus, lookarounds and backreferences are refused when the
rule is saved, and matching takes linear time whatever the label value. Python's `re` took 1.6 s
to match `(a+)+b` against 26 a's (measured): a label value from any agent could stall a worker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal, cast

import re2

from kernel.names import LABEL_NAME_SYNTAX

Op = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(rf'^\s*({LABEL_NAME_SYNTAX})\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')\s*$')
MAX_REGEX_LEN = 1024
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.dot_nl = True  # Prometheus compiles ^(?s:…)$
_RE2_OPTIONS.log_errors = False  # the error is raised to the caller; RE2 would also print it to stderr


class MatcherError(ValueError):
    """A matcher that doesn't parse or whose regex doesn't compile."""


def compile_regex(value: str) -> re2._Regexp:
    """A label regex as Prometheus compiles it (RE2, `.` matches newlines); MatcherError says why not."""
    try:
        return re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if isinstance(exc.args[0], bytes) else str(exc.args[0])
        raise MatcherError(f"invalid regex (RE2 syntax, as in Prometheus): {reason}") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; `matches(labels)` applies it to a series' labels."""

    name: str
    op: Op
    value: str
    _regex: re2._Regexp | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: Op, value: str) -> Matcher:
        """A matcher with its regex compiled (anchored, as Prometheus does)."""
        regex = None
        if op in ("=~", "!~"):
            if len(value) > MAX_REGEX_LEN:
                raise MatcherError(f"regex of '{name}' is longer than {MAX_REGEX_LEN} characters")
            try:
                regex = compile_regex(value)
            except MatcherError as exc:
                raise MatcherError(f"'{name}{op}\"{value}\"': {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: dict[str, str]) -> bool:
        """True when the series labels satisfy this matcher."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        # make() compiles the regex of every =~ and !~ matcher (a per-series path: no check here).
        hit = cast("re2._Regexp", self._regex).fullmatch(actual) is not None
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
    return Matcher.make(name, cast(Op, op), value)  # _MATCHER's operator group is one of Op's four
