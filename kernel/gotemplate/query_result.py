"""What a template's `query` returns: samples of an instant vector, shaped as Prometheus gives them
to templates (template.go's `sample` and `queryResult`), and the type of the function that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class QueryResult:
    """One sample of a query result: its labels (with `__name__`) and value (a *template.sample)."""

    Labels: dict[str, str] = field(default_factory=dict)
    Value: float = 0.0

    go_type = "*template.sample"
    go_kind = "ptr"
    go_indirect = True  # the template engine prints *sample as its struct, `{map[...] 1}`


class QueryVector(list):
    """A list of QueryResult (a template.queryResult)."""

    go_type = "template.queryResult"


# expr, evaluation time in ms → samples. The rule evaluator supplies it; errors it raises are shown
# in the alert text as Prometheus does (`error calling query: ...`).
QueryFunc = Callable[[str, int], list[QueryResult]]
