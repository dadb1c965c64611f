"""Building a PromQL series selector from request parameters, with every value escaped.

Users never send PromQL text here: they send a metric name and `label<op>value` matchers, and
this module writes the selector, so a label value cannot close the string and inject a query.
https://prometheus.io/docs/prometheus/latest/querying/basics/#time-series-selectors
"""

from __future__ import annotations

import re

from api.errors import BadParam
from kernel.matchers import MatcherError, compile_regex
from kernel.names import LABEL_NAME_SYNTAX, METRIC_NAME_SYNTAX, is_label_name, is_metric_name

_MATCHER = re.compile(r"^([^=!~]*?)\s*(=~|!~|!=|=)(.*)$", re.DOTALL)
MAX_MATCHERS = 20
MAX_VALUE_CHARS = 1024
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def quote(value: str) -> str:
    """A PromQL double-quoted string literal holding exactly `value`."""
    return '"' + value.translate(_ESCAPES) + '"'


def parse_matcher(text: str) -> tuple[str, str, str]:
    """`host=web-9`, `env!=dev`, `path=~/api/.*`, `code!~5..` → (name, op, value)."""
    found = _MATCHER.match(text)
    if not found:
        raise BadParam("query", "match", f"{text[:80]!r} is not name=value, name!=value, name=~regex or name!~regex")
    name, op, value = found.groups()
    if not is_label_name(name):
        raise BadParam("query", "match", f"{name[:80]!r} is not a label name ({LABEL_NAME_SYNTAX})")
    if len(value) > MAX_VALUE_CHARS:
        raise BadParam("query", "match", f"value of {name} is longer than {MAX_VALUE_CHARS} characters")
    if op in ("=~", "!~"):
        try:
            compile_regex(value)  # VictoriaMetrics and Prometheus take RE2: refuse here what they would
        except MatcherError as exc:
            raise BadParam("query", "match", f"regex for {name} does not compile: {exc}") from None
    return name, op, value


def selector(metric: str, matchers: list[str]) -> str:
    """The PromQL selector `metric{name op "value", …}` for a metric and matcher strings."""
    if not is_metric_name(metric):
        raise BadParam("query", "metric", f"{metric[:80]!r} is not a metric name ({METRIC_NAME_SYNTAX})")
    if len(matchers) > MAX_MATCHERS:
        raise BadParam("query", "match", f"at most {MAX_MATCHERS} matchers, got {len(matchers)}")
    parts = [f"{name}{op}{quote(value)}" for name, op, value in map(parse_matcher, matchers)]
    return metric + "{" + ",".join(parts) + "}"
