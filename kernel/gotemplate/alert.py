"""Expanding an alerting rule's labels and annotations exactly as Prometheus 2.42 does.

Prometheus prepends variable definitions to each template (rules/alerting.go), runs it with the
alert's data (template.AlertTemplateData) and its template functions, and on failure puts
`<error expanding template: ...>` into the label or annotation instead of failing the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import TemplateError
from .functions import Func
from .prometheus_funcs import prometheus_funcs
from .query_result import QueryFunc
from .template import Template, parse

# rules/alerting.go: the definitions every label/annotation template starts with.
ALERT_TEMPLATE_HEADER = ("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
                         "{{$externalURL := .ExternalURL}}{{$value := .Value}}")


@dataclass(slots=True)
class AlertTemplateData:
    """The data (dot) of an alert template: Prometheus' template.AlertTemplateData struct."""

    Labels: dict[str, str] = field(default_factory=dict)
    ExternalLabels: dict[str, str] = field(default_factory=dict)
    ExternalURL: str = ""
    Value: float = 0.0

    go_type = ("struct { Labels map[string]string; ExternalLabels map[string]string; "
               "ExternalURL string; Value float64 }")


def prometheus_alert_template(text: str, name: str = "__alert") -> Template:
    """Parse a label/annotation template with Prometheus' header prepended (cached by text)."""
    return parse(ALERT_TEMPLATE_HEADER + text, name)


def expand_alert(text: str, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str],
                 external_url: str | None, query: QueryFunc | None, timestamp_ms: int, *,
                 alert_name: str = "") -> str:
    """The text Prometheus gives one label or annotation of one alert; never raises.

    `alert_name` names the template `__alert_<name>` as Prometheus does (it appears in error
    text). A failing template yields `<error expanding template: ...>` as in Prometheus.
    """
    data = AlertTemplateData(dict(labels), dict(external_labels), external_url or "", float(value))
    return expand_with(text, data, prometheus_funcs(query, timestamp_ms, external_url), alert_name)


def expand_with(text: str, data: AlertTemplateData, funcs: Mapping[str, Func], alert_name: str = "") -> str:
    """expand_alert with the data and function map given apart (as promtool, whose funcs lack a URL)."""
    name = "__alert_" + alert_name
    try:
        return prometheus_alert_template(text, name).execute(data, funcs)
    except TemplateError as error:
        verb = "parsing" if error.during == "parse" else "executing"
        return f"<error expanding template: error {verb} template {name}: {error.go_message}>"


def check(text: str) -> None:
    """Validate a label/annotation template when a rule is saved; raise TemplateError naming line:col.

    Parses as Prometheus does (header prepended, Prometheus functions defined); the position is
    reported relative to `text` itself, not to the header.
    """
    try:
        prometheus_alert_template(text)
    except TemplateError as error:
        raise _relative_to_user_text(error, text) from None


def _relative_to_user_text(error: TemplateError, text: str) -> TemplateError:
    if error.position is None:
        return error
    line, column = error.position
    if line == 1:
        column -= len(ALERT_TEMPLATE_HEADER)
    detail = str(error).split(": ", 2)[-1] if str(error).count(": ") >= 2 else str(error)
    message = f"template: {error.name}:{line}:{column}: {detail}"
    return TemplateError(message, name=error.name, position=(line, column), go_message=error.go_message,
                         during=error.during)
