"""promtool's series notation: `metric{a="b"}` plus an expanding value sequence like `1+2x3 _x2 stale`.

The grammar is PromQL's series description (`ParseSeriesDesc` in Prometheus 2.42,
https://github.com/prometheus/prometheus/blob/v2.42.0/promql/parser/generated_parser.y and lex.go):
items are separated by spaces and each is one of

    _          one omitted value            _xN      N omitted values
    V          one value                    VxN      V repeated N+1 times
    A+BxN      A, A+B, ... (N+1 values)     A-BxN    A, A-B, ... (N+1 values)

where a value is a number (`1`, `-2.5`, `1e3`, `Inf`, `NaN`; no hex, as `0x3` means 0 repeated) or
`stale` (a staleness marker). `A+BxN` adds B repeatedly, as Go does, so float rounding matches.
The documentation is https://prometheus.io/docs/prometheus/2.42/configuration/unit_testing_rules/.
"""

from __future__ import annotations

import re

from kernel.gotemplate.strconv import SyntaxErrorGo, unquote as go_unquote
from kernel import names
from kernel.promql import STALE_NAN

from .labelset import METRIC_NAME

_WORD_RE = names.METRIC_NAME  # promtool's lexer: a metric or label name is one word (a label name has no ':')
_NUMBER_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SPACE = " \t\n\r"


class SeriesNotationError(ValueError):
    """A series description or value sequence that promtool would reject; says what and where."""


def parse_series(description: str) -> dict[str, str]:
    """The labels (with `__name__`) of a series description: `up{job="a"}` or `{__name__="up"}`."""
    text = description.strip()
    pos = 0
    labels: dict[str, str] = {}
    name = _WORD_RE.match(text)
    if name:
        labels[METRIC_NAME] = name.group()
        pos = name.end()
    pos = _skip_space(text, pos)
    if pos < len(text) and text[pos] == "{":
        pos = _label_set(text, pos + 1, labels)
        pos = _skip_space(text, pos)
    elif not name:
        raise SeriesNotationError(f"series {description!r}: expected a metric name or '{{'")
    if pos != len(text):
        raise SeriesNotationError(f"series {description!r}: unexpected {text[pos:]!r} after the labels")
    return labels


def _label_set(text: str, pos: int, labels: dict[str, str]) -> int:
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "}":
            return pos + 1
        name = _WORD_RE.match(text, pos)
        if not name or ":" in name.group():
            raise SeriesNotationError(f"series {text!r}: expected a label name at column {pos + 1}")
        pos = _skip_space(text, name.end())
        if not text.startswith("=", pos) or text.startswith("=~", pos) or text.startswith("==", pos):
            raise SeriesNotationError(f"series {text!r}: expected '=' after label {name.group()!r}")
        pos = _skip_space(text, pos + 1)
        value, pos = _string(text, pos)
        if name.group() in labels and name.group() != METRIC_NAME:
            raise SeriesNotationError(f"series {text!r}: label {name.group()!r} is repeated")
        labels[name.group()] = value
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif not (pos < len(text) and text[pos] == "}"):
            raise SeriesNotationError(f"series {text!r}: expected ',' or '}}' at column {pos + 1}")


def _string(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos] if pos < len(text) else ""
    if quote not in ("\"", "'", "`"):
        raise SeriesNotationError(f"series {text!r}: expected a quoted label value at column {pos + 1}")
    end = pos + 1
    while end < len(text) and text[end] != quote:
        end += 2 if text[end] == "\\" and quote != "`" else 1
    if end >= len(text):
        raise SeriesNotationError(f"series {text!r}: unterminated quoted string")
    body = text[pos + 1:end]
    if quote == "'":  # PromQL allows multi-character single-quoted strings; Go's Unquote does not
        body = body.replace("\\'", "'").replace('"', '\\"')
        quote = '"'
    try:
        return go_unquote(quote + body + quote), end + 1
    except SyntaxErrorGo:
        raise SeriesNotationError(f"series {text!r}: invalid escape in {text[pos:end + 1]}") from None


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def parse_values(sequence: str) -> list[float | None]:
    """Expand a value sequence; None stands for an omitted value (`_`), STALE_NAN for `stale`."""
    out: list[float | None] = []
    for item in sequence.split():
        out.extend(_item(item))
    return out


def _item(item: str) -> list[float | None]:
    if item.startswith("_"):
        if item == "_":
            return [None]
        if item.startswith("_x") and item[2:].isdigit():
            return [None] * int(item[2:])
        raise SeriesNotationError(f"value {item!r}: expected '_' or '_xN'")
    start, pos = _value(item, 0)
    if pos == len(item):
        return [start]
    if item[pos] == "x":
        return [start] * (_count(item, pos + 1) + 1)
    if item[pos] in "+-":
        sign = -1.0 if item[pos] == "-" else 1.0
        number = _NUMBER_RE.match(item, pos + 1) or _inf_nan(item, pos + 1)
        if not number or number.end() >= len(item) or item[number.end()] != "x":
            raise SeriesNotationError(f"value {item!r}: expected A+BxN or A-BxN")
        step = sign * float(number.group())
        values: list[float | None] = [start]
        for _ in range(_count(item, number.end() + 1)):
            start += step  # repeated addition, exactly as Go's parser does
            values.append(start)
        return values
    raise SeriesNotationError(f"value {item!r}: unexpected {item[pos:]!r}")


def _value(item: str, pos: int) -> tuple[float, int]:
    sign = 1.0
    if item[pos] in "+-":
        sign = -1.0 if item[pos] == "-" else 1.0
        pos += 1
    if sign == 1.0 and pos == 0 and item.startswith("stale"):
        rest = item[5:]
        if rest == "" or rest.startswith("x"):
            return STALE_NAN, 5
    number = _NUMBER_RE.match(item, pos) or _inf_nan(item, pos)
    if not number:
        raise SeriesNotationError(f"value {item!r}: expected a number, 'stale', '_' or '_xN'")
    return sign * float(number.group()), number.end()


def _inf_nan(item: str, pos: int) -> re.Match[str] | None:
    word = _WORD_RE.match(item, pos)
    if word and word.group().lower() in ("inf", "nan"):
        return word
    return None


def _count(item: str, pos: int) -> int:
    if not item[pos:].isdigit():
        raise SeriesNotationError(f"value {item!r}: expected a whole number of repetitions after 'x'")
    return int(item[pos:])
