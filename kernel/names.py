"""Metric and label names: the one definition of which strings are valid, for every stage.

Prometheus' data model, https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels:
a metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*` (colons are for recording rules), a label name
`[a-zA-Z_][a-zA-Z0-9_]*`, and label names starting with `__` are reserved for internal use
(`__name__` holds the metric name). Prometheus 3 also takes other UTF-8 names when quoted; Vigil keeps
the classic charset, which every store, agent and PromQL parser it talks to accepts unquoted.

The `*_SYNTAX` texts are what users read in error messages and what other patterns (matchers,
selectors, templates) embed; the compiled patterns are unanchored, for `fullmatch` when validating
and `match(text, pos)` when scanning; the `*_PATTERN` texts are anchored for pydantic's `Field(pattern=)`.
"""

from __future__ import annotations

import re

METRIC_NAME_SYNTAX = "[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME_SYNTAX = "[a-zA-Z_][a-zA-Z0-9_]*"
METRIC_NAME = re.compile(METRIC_NAME_SYNTAX)
LABEL_NAME = re.compile(LABEL_NAME_SYNTAX)
METRIC_NAME_PATTERN = f"^{METRIC_NAME_SYNTAX}$"
LABEL_NAME_PATTERN = f"^{LABEL_NAME_SYNTAX}$"
# One character a name may not hold, for adapters that turn a foreign name into a valid one.
NOT_METRIC_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_:]")
NOT_LABEL_NAME_CHAR = re.compile(r"[^a-zA-Z0-9_]")
RESERVED_PREFIX = "__"


def is_metric_name(name: str) -> bool:
    """True when `name` is a valid metric name as a whole (a trailing newline included: it is not)."""
    return METRIC_NAME.fullmatch(name) is not None


def is_label_name(name: str) -> bool:
    """True when `name` is a valid label name as a whole, reserved `__` names included."""
    return LABEL_NAME.fullmatch(name) is not None


def is_reserved_label_name(name: str) -> bool:
    """True for names starting with `__`, which Prometheus keeps for itself (`__name__`, relabeling's `__tmp`)."""
    return name.startswith(RESERVED_PREFIX)
