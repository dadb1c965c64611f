"""Go text/template with Prometheus' template functions, in pure Python.

Renders alerting-rule labels and annotations exactly as Prometheus 2.42 (Go 1.19) does:
https://prometheus.io/docs/prometheus/latest/configuration/template_reference/ and
https://pkg.go.dev/text/template .

    parse(text) -> Template; Template.execute(data, funcs)     Go's engine (parse once, run often)
    prometheus_alert_template(text)                            with Prometheus' $labels/$value header
    expand_alert(text, labels, value, ...)                     one label/annotation of one alert
    check(text)                                                validation when a rule is saved
"""

from .alert import ALERT_TEMPLATE_HEADER, AlertTemplateData, check, expand_alert, prometheus_alert_template
from .errors import TemplateError
from .functions import Func, GoError
from .query_result import QueryFunc, QueryResult
from .template import Template, parse

__all__ = [
    "ALERT_TEMPLATE_HEADER", "AlertTemplateData", "Func", "GoError", "QueryFunc", "QueryResult", "Template",
    "TemplateError", "check", "expand_alert", "parse", "prometheus_alert_template",
]
