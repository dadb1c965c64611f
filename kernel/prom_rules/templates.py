"""Alert label and annotation templates, expanded as Prometheus' alerting rules expand them.

The rule passes each series' labels and value, the external labels and URL, and its own query
function (templates may call `query`); expansion errors are rendered into the text by the
template engine (`<error expanding template: ...>`), never raised, as Prometheus does.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/alerting.go (Eval, expand).
"""

from __future__ import annotations

from collections.abc import Mapping

from kernel.gotemplate import expand_alert
from kernel.gotemplate.query_result import QueryResult

from .alerting import TemplateExpander
from .rule_query import QueryFunc


def alert_expander(external_labels: Mapping[str, str], external_url: str, query: QueryFunc) -> TemplateExpander:
    """An expand(text, labels, value, at_ms, alert_name) for a group's alerting rules, bound to its query function."""
    external = dict(external_labels)

    def template_query(expr: str, at_ms: int) -> list[QueryResult]:
        return [QueryResult(dict(s.labels), s.value) for s in query(expr, at_ms)]

    def expand(text: str, labels: Mapping[str, str], value: float, at_ms: int, alert_name: str) -> str:
        if "{{" not in text:
            return text  # nothing to expand; saves a template parse per series and evaluation
        return expand_alert(text, labels=dict(labels), value=value, external_labels=external,
                            external_url=external_url, query=template_query, timestamp_ms=at_ms, alert_name=alert_name)

    return expand
