"""Label/annotation templates of stream rules: Prometheus' Go templates, through kernel/gotemplate.

Every template Prometheus 2.42 accepts renders byte for byte as Prometheus renders it
(https://prometheus.io/docs/prometheus/latest/configuration/template_reference/): `$labels`,
`$value`, `$externalLabels`, `$externalURL`, `if/else/with/range`, `humanize*`, `printf`,
`reReplaceAll`, `title`, ... A template that fails while running gives
`<error expanding template: ...>` in place of the text, as in Prometheus.

One exception: `query`. A stream rule is evaluated per sample inside the worker, which has no
time-series store to ask, so a template calling `query` is refused when the rule is saved (the
error names the position); such a rule belongs to the query evaluator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from kernel.gotemplate import ALERT_TEMPLATE_HEADER, AlertTemplateData, Func, TemplateError, check, parse
from kernel.gotemplate.alert import expand_with
from kernel.gotemplate.fmt import sprint
from kernel.gotemplate.prometheus_funcs import PROMETHEUS_FUNC_NAMES, prometheus_funcs

__all__ = ["TemplateError", "render", "render_all", "validate_template"]

_WITHOUT_QUERY = PROMETHEUS_FUNC_NAMES - {"query"}
_NO_LABELS: Mapping[str, str] = {}
# The functions that depend on the evaluation; the pure ones are always there (kernel/gotemplate/template.py).
_BOUND = ("query", "externalURL", "pathPrefix")
# Templates come from rules, which an API client writes: only texts up to this size are cached, so
# the cache holds at most 4096 × (4 KB + its parts) ≈ 40 MB whatever the rules hold.
_CACHED_TEMPLATE_CHARS = 4096
# The templates most rules have: text with {{ $labels.NAME }} and {{ $value }} (or .Labels.NAME, .Value).
_SIMPLE_ACTION = re.compile(r"\{\{ *(?:\$labels\.|\.Labels\.)([A-Za-z_][A-Za-z0-9_]*) *\}\}"
                            r"|\{\{ *(\$value|\.Value) *\}\}")


def validate_template(text: str) -> None:
    """Raise TemplateError (line:column of `text`) for what Prometheus refuses, and for `query`."""
    check(text)
    if "query" not in text:
        return
    try:
        parse(ALERT_TEMPLATE_HEADER + text, "__alert", _WITHOUT_QUERY)
    except TemplateError as error:  # check() passed, so the only function missing is `query`
        line, column = error.position or (1, len(ALERT_TEMPLATE_HEADER))
        if line == 1:
            column -= len(ALERT_TEMPLATE_HEADER)
        message = (f"template: __alert:{line}:{column}: `query` is not available in a stream rule (it is "
                   "evaluated per sample, without the time-series store); evaluate the rule as a query rule")
        raise TemplateError(message, name="__alert", position=(line, column), go_message=message) from None


def render(text: str, labels: Mapping[str, str], value: float, external_labels: Mapping[str, str] = _NO_LABELS,
           external_url: str = "", alert_name: str = "") -> str:
    """The text Prometheus gives one label or annotation of an alert on a series with `labels` at `value`."""
    return render_all({"": text}, labels, value, external_labels, external_url, alert_name)[""]


def render_all(texts: Mapping[str, str], labels: Mapping[str, str], value: float,
               external_labels: Mapping[str, str] = _NO_LABELS, external_url: str = "",
               alert_name: str = "") -> dict[str, str]:
    """Every template of `texts` (name → text) rendered for one alert, as Prometheus' expand() does.

    The same as kernel.gotemplate.expand_alert without a query function, but the template data
    is built once per alert and the evaluation-bound functions once per external URL: rendering
    happens at every transition, on the worker's hot path when alerts flap.
    """
    data = None
    out = {}
    for name, text in texts.items():
        if "{{" not in text:
            out[name] = text  # no action: Go's output is the text itself (and no parse per alert)
            continue
        simple = _simple(text) if len(text) <= _CACHED_TEMPLATE_CHARS else _simple.__wrapped__(text)
        if simple is not None:
            out[name] = "".join(part if type(part) is str else labels.get(part[0], "") if part[0] else go_value(value)
                                for part in simple)
            continue
        if data is None:
            data = AlertTemplateData(dict(labels), dict(external_labels), external_url, float(value))
        out[name] = expand_with(text, data, _bound_funcs(external_url), alert_name)
    return out


@lru_cache(maxsize=64)
def _bound_funcs(external_url: str) -> dict[str, Func]:
    """`query` (failing as Prometheus' does without a query engine), `externalURL`, `pathPrefix`."""
    every = prometheus_funcs(None, 0, external_url)
    return {name: every[name] for name in _BOUND}


@lru_cache(maxsize=4096)
def _simple(text: str) -> tuple | None:
    """`text` as literal strings and (label name,) / ("",) for $value, when that is all it holds; else None.

    Such a template prints the label (a missing one is "" in Go's map[string]string) or the
    value as Go's fmt.Sprint does, so it is rendered without the template engine (7x faster,
    and tests/streams/test_template.py checks both give the same text).
    """
    parts: list = []
    pos = 0
    for m in _SIMPLE_ACTION.finditer(text):
        if text.find("{{", pos) != m.start():  # Go's lexer opens an action at the first "{{" it meets
            return None
        parts.append(text[pos:m.start()])
        parts.append((m.group(1) or "",))
        pos = m.end()
    parts.append(text[pos:])
    if "{{" in text[pos:]:
        return None
    return tuple(p for p in parts if p != "")


def go_value(value: float) -> str:
    """`{{ $value }}`: a float64 as Go's fmt.Sprint prints it (shortest digits, %e below 1e-4 and from 1e6 on)."""
    value = float(value)
    if 1e-4 <= abs(value) < 1e6:  # Python's repr has the same shortest digits, in fixed notation here
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return sprint(value)
