"""Prometheus' template functions (template/template.go, v2.42), bound to one alert evaluation.

`query` runs the caller's QueryFunc at the evaluation time; the rest are pure. Signatures (the Go
parameter types) matter: Go checks them and words its errors after them.
See https://prometheus.io/docs/prometheus/latest/configuration/template_reference/ .
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlsplit

from . import humanize as h
from .functions import ANY, STRING, Func, GoError
from .goregexp import match_string, replace_all_string
from .query_result import QueryFunc, QueryResult, QueryVector
from .values import HTML, AnyMap

SAMPLE = "*template.sample"
VECTOR = "template.queryResult"

PROMETHEUS_FUNC_NAMES = frozenset({
    "query", "first", "label", "value", "strvalue", "args", "reReplaceAll", "safeHtml", "match", "title",
    "toUpper", "toLower", "graphLink", "tableLink", "sortByLabel", "humanize", "humanize1024",
    "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "toTime", "pathPrefix", "externalURL",
    "parseDuration", "stripPort", "stripDomain",
})

_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def prometheus_funcs(query: QueryFunc | None, timestamp_ms: int, external_url: str | None) -> dict[str, Func]:
    """The function map Prometheus' NewTemplateExpander builds for one expansion."""

    def run_query(expr: str) -> QueryVector:
        if query is None:
            raise GoError("runtime error: invalid memory address or nil pointer dereference")
        return QueryVector(QueryResult(dict(s.Labels), float(s.Value)) for s in query(expr, timestamp_ms))

    def external() -> str:
        if external_url is None:  # Prometheus would dereference a nil *url.URL
            raise GoError("runtime error: invalid memory address or nil pointer dereference")
        return external_url

    def path_prefix() -> str:
        return urlsplit(external()).path

    funcs = dict(PURE_FUNCS)
    funcs.update({
        "query": Func(run_query, (STRING,)),
        "externalURL": Func(external),
        "pathPrefix": Func(path_prefix),
    })
    return funcs


def _first(v: QueryVector | None) -> QueryResult:
    if v:
        return v[0]
    raise GoError("first() called on vector with no elements")


def _label(label: str, s: QueryResult | None) -> str:
    return _deref(s).Labels.get(label, "")


def _deref(s: QueryResult | None) -> QueryResult:
    if s is None:
        raise GoError("runtime error: invalid memory address or nil pointer dereference")
    return s


def _args(*values: Any) -> AnyMap:
    return AnyMap((f"arg{i}", v) for i, v in enumerate(values))


def _sort_by_label(label: str, v: QueryVector | None) -> QueryVector:
    if v is None:
        return QueryVector()
    v.sort(key=lambda s: s.Labels.get(label, ""))  # sort.Stable: Python's sort is stable too
    return v


def _title(s: str) -> str:
    """Go's strings.Title: upper-case the first letter of each word."""
    out, prev = [], " "
    for ch in s:
        out.append(ch.upper() if len(ch.upper()) == 1 and _is_separator(prev) else ch)
        prev = ch
    return "".join(out)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def _simple_case(s: str, upper: bool) -> str:
    """Go's ToUpper/ToLower map rune by rune (no 'ß' → 'SS' expansion)."""
    out = []
    for ch in s:
        mapped = ch.upper() if upper else ch.lower()
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def _graph_link(expr: str, tab: int) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='-_.~')}&g0.tab={tab}"


def _split_host_port(host_port: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort, returning None where Go returns an error."""
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0 or not host_port[end + 1:].startswith(":"):
            return None
        host, port = host_port[1:end], host_port[end + 2:]
        if "[" in host or "]" in host or "]" in port:
            return None
        return host, port
    i = host_port.rfind(":")
    if i < 0:
        return None
    host, port = host_port[:i], host_port[i + 1:]
    if ":" in host or "[" in host or "]" in host or "[" in port or "]" in port:
        return None
    return host, port


def _strip_port(host_port: str) -> str:
    parts = _split_host_port(host_port)
    return host_port if parts is None else parts[0]


def _strip_domain(host_port: str) -> str:
    parts = _split_host_port(host_port)
    host, port = (host_port, "") if parts is None else parts
    try:
        ipaddress.ip_address(host)
        return host_port
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def _parse_duration(text: str) -> float:
    """Prometheus' model.ParseDuration, in seconds."""
    if text == "0":
        return 0.0
    if text == "":
        raise GoError("empty duration string")
    match = _DURATION.fullmatch(text)
    if match is None:
        raise GoError(f'not a valid duration string: "{text}"')
    ms = 0
    for digits, unit in zip(match.groups(), _DURATION_MS):
        if digits is not None:
            ms += int(digits) * unit
            if ms > (1 << 63) // 1_000_000 - 1:
                raise GoError("duration out of range")
    return ms / 1000


def _to_time(value: Any):
    return h.to_time(value)


def _pure(fn: Callable[..., Any], *params: str, variadic: str | None = None) -> Func:
    return Func(fn, tuple(params), variadic)


PURE_FUNCS: dict[str, Func] = {
    "first": _pure(_first, VECTOR),
    "label": _pure(_label, STRING, SAMPLE),
    "value": _pure(lambda s: _deref(s).Value, SAMPLE),
    "strvalue": _pure(lambda s: _deref(s).Labels.get("__value__", ""), SAMPLE),
    "args": _pure(_args, variadic=ANY),
    "reReplaceAll": _pure(lambda pattern, repl, text: replace_all_string(pattern, repl, text),
                          STRING, STRING, STRING),
    "safeHtml": _pure(HTML, STRING),
    "match": _pure(match_string, STRING, STRING),
    "title": _pure(_title, STRING),
    "toUpper": _pure(lambda s: _simple_case(s, True), STRING),
    "toLower": _pure(lambda s: _simple_case(s, False), STRING),
    "graphLink": _pure(lambda expr: _graph_link(expr, 0), STRING),
    "tableLink": _pure(lambda expr: _graph_link(expr, 1), STRING),
    "sortByLabel": _pure(_sort_by_label, STRING, VECTOR),
    "humanize": _pure(h.humanize, ANY),
    "humanize1024": _pure(h.humanize1024, ANY),
    "humanizeDuration": _pure(h.humanize_duration, ANY),
    "humanizePercentage": _pure(h.humanize_percentage, ANY),
    "humanizeTimestamp": _pure(h.humanize_timestamp, ANY),
    "toTime": _pure(_to_time, ANY),
    "parseDuration": _pure(_parse_duration, STRING),
    "stripPort": _pure(_strip_port, STRING),
    "stripDomain": _pure(_strip_domain, STRING),
}
