"""Label/annotation templates: the Prometheus (Go text/template) subset Vigil renders.

Validated when a rule is saved, rendered per alert. Semantics follow
https://prometheus.io/docs/prometheus/latest/configuration/template_reference/ :

    {{ $value }}  {{ .Value }}                          the sample value
    {{ $labels.NAME }}  {{ .Labels.NAME }}              a series label ("" when the series lacks it)
    {{ $externalLabels.NAME }}  {{ .ExternalLabels.NAME }}   "" (Vigil has no external labels)
    {{ X | humanize }}  humanize1024  humanizePercentage  humanizeDuration
    {{ X | toUpper }}  toLower
    {{ printf "%.2f" X }}  {{ X | printf "%.2f" }}      fmt verbs v s d f F e E g G and %%

A function is called as `f X` or piped as `X | f` (the piped value is its last argument), and
pipes chain. A label given to a humanize function is read as a number; one that isn't is shown
as it is (Prometheus would fail the whole template).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

_IDENT = r"[a-zA-Z_][a-zA-Z0-9_]*"
_TOKEN = re.compile(rf"""
    (?P<space>\s+)
  | (?P<close>}}}})
  | (?P<pipe>\|)
  | (?P<var>\${_IDENT}(?:\.{_IDENT})*)
  | (?P<field>(?:\.{_IDENT})+)
  | (?P<ident>{_IDENT})
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
""", re.VERBOSE)
_VERB = re.compile(r"%([-+# 0]*)(\d{1,3})?(?:\.(\d{0,3}))?(.?)", re.DOTALL)
_NUMERIC_VERBS = frozenset("dfFeEgG")
_VERBS = _NUMERIC_VERBS | frozenset("vs")
_MAX_WIDTH = 100
_GO_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
                          "nil", "true", "false"})
_VALUE = ("$value", ".Value")
_LABELS = ("$labels.", ".Labels.")
_EXTERNAL = ("$externalLabels.", ".ExternalLabels.")


class TemplateError(ValueError):
    """A template that uses something Vigil doesn't render; the message names the piece at fault."""


@dataclass(frozen=True, slots=True)
class _Operand:
    kind: str  # value | label | text
    text: str = ""  # the label name, or the literal text


@dataclass(frozen=True, slots=True)
class _Command:
    function: str | None  # None: the operand itself
    args: tuple[_Operand, ...]
    layout: tuple = ()  # printf: the format split into literal strings and (flags, width, precision, verb)


_Action = tuple[_Command, ...]


def validate_template(text: str) -> None:
    """Raise TemplateError for an unsupported, mistyped or unclosed placeholder."""
    _compile(text)


def render(text: str, labels: dict[str, str], value: float) -> str:
    """Fill placeholders; a missing label renders empty, as in Prometheus."""
    if "{{" not in text:
        return text
    try:
        parts = _compile(text)
    except TemplateError:
        return text  # never saved: rules are validated when they are
    return "".join(part if isinstance(part, str) else _run(part, labels, value) for part in parts)


@lru_cache(maxsize=4096)
def _compile(text: str) -> tuple[str | _Action, ...]:
    """The template as literal strings and actions."""
    parts: list[str | _Action] = []
    pos = 0
    while (start := text.find("{{", pos)) >= 0:
        parts.append(_literal(text, pos, start))
        action, pos = _action(text, start)
        parts.append(action)
    parts.append(_literal(text, pos, len(text)))
    return tuple(p for p in parts if p != "")


def _literal(text: str, start: int, end: int) -> str:
    chunk = text[start:end]
    if "}}" in chunk:
        raise TemplateError(f"'}}}}' at position {start + chunk.index('}}')} has no opening '{{{{' in '{text}'")
    return chunk


def _action(text: str, start: int) -> tuple[_Action, int]:
    """Tokenize and check one `{{ … }}` starting at `start`; returns it and the position after `}}`."""
    tokens: list[tuple[str, str]] = []
    pos = start + 2
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            end = text.find("}}", pos)
            if end < 0:
                raise TemplateError(f"'{{{{' at position {start} is never closed with '}}}}' in '{text}'")
            raise TemplateError(f"'{text[start:end + 2]}': '{text[pos]}' at position {pos} is not supported "
                                "in a placeholder")
        pos = m.end()
        if m.lastgroup == "close":
            break
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
    shown = f"'{text[start:pos]}'"
    try:
        return _pipeline(tokens), pos
    except TemplateError as exc:
        raise TemplateError(f"{shown}: {exc}") from None


def _pipeline(tokens: list[tuple[str, str]]) -> _Action:
    if not tokens:
        raise TemplateError("empty placeholder; use {{ $value }} or {{ $labels.NAME }}")
    groups: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            groups.append([])
        else:
            groups[-1].append(token)
    if not all(groups):
        raise TemplateError("'|' needs something on each side")
    commands = tuple(_command(group, piped=i > 0) for i, group in enumerate(groups))
    piped: list[str] = []  # the kind ("num" or "str") flowing into the next command, if any
    for command in commands:
        if command.function is None:
            piped = [_kind(command.args[0])]
        else:
            _check(command, [_kind(a) for a in command.args] + piped)
            piped = ["str"]
    return commands


def _command(tokens: list[tuple[str, str]], piped: bool) -> _Command:
    kind, word = tokens[0]
    if kind == "ident":
        if word in _GO_KEYWORDS:
            raise TemplateError(f"'{word}' is not supported: Vigil templates have no control structures or variables")
        if word not in _FUNCTIONS:
            raise TemplateError(f"'{word}' is not a supported function (use {', '.join(_FUNCTIONS)})")
        args = tuple(_operand(k, w) for k, w in tokens[1:])
        layout = _layout(args[0].text) if word == "printf" and args and args[0].kind == "text" else ()
        return _Command(word, args, layout)
    if piped:
        raise TemplateError(f"'| {word}': after '|' comes a function ({', '.join(_FUNCTIONS)})")
    if len(tokens) > 1:
        raise TemplateError(f"'{word}' is not a function and takes no arguments")
    return _Command(None, (_operand(kind, word),))


def _operand(kind: str, word: str) -> _Operand:
    if kind == "string":
        return _Operand("text", _unquote(word))
    if kind in ("var", "field"):
        if word in _VALUE:
            return _Operand("value")
        for prefix in _LABELS + _EXTERNAL:
            name = word.removeprefix(prefix)
            if name != word and "." not in name:
                return _Operand("label" if prefix in _LABELS else "text", name if prefix in _LABELS else "")
    raise TemplateError(f"'{word}' is not supported: use $value, $labels.NAME, $externalLabels.NAME, "
                        ".Value or .Labels.NAME")


def _unquote(word: str) -> str:
    if word.startswith("`"):
        return word[1:-1]
    try:
        return json.loads(word)
    except json.JSONDecodeError:
        raise TemplateError(f"{word}: an escape Vigil doesn't read (use \\n, \\t, \\\", \\\\ or \\uXXXX)") from None


def _kind(operand: _Operand) -> str:
    return "num" if operand.kind == "value" else "str"


def _check(command: _Command, kinds: list[str]) -> None:
    """Arity and argument types of one function call (piped value last)."""
    name = command.function
    if name == "printf":
        if not command.args or command.args[0].kind != "text":
            raise TemplateError('printf takes a quoted format first, e.g. printf "%.2f" $value')
        verbs = [part[3] for part in command.layout if not isinstance(part, str)]
        if len(verbs) != len(kinds) - 1:
            raise TemplateError(f"printf format {json.dumps(command.args[0].text)} has {len(verbs)} verb(s) "
                                f"for {len(kinds) - 1} value(s)")
        for verb, kind in zip(verbs, kinds[1:]):
            if verb in _NUMERIC_VERBS and kind != "num":
                raise TemplateError(f"printf %{verb} needs a number ($value), not a string")
        return
    if len(kinds) != 1:
        raise TemplateError(f"{name} takes one value, got {len(kinds)}")
    if name in ("toUpper", "toLower") and kinds[0] != "str":
        raise TemplateError(f"{name} takes a string such as $labels.NAME, not the number $value")


def _layout(fmt: str) -> tuple:
    """A printf format as literal strings and (flags, width, precision, verb) tuples."""
    parts: list = []
    pos = 0
    for m in _VERB.finditer(fmt):
        parts.append(fmt[pos:m.start()])
        flags, width, precision, verb = m.groups()
        if int(width or 0) > _MAX_WIDTH or int(precision or 0) > _MAX_WIDTH:
            raise TemplateError(f"printf '{m.group()}': width and precision go up to {_MAX_WIDTH}")
        if verb == "%" and not (flags or width or precision):
            parts.append("%")
        elif verb in _VERBS:
            parts.append((flags, width or "", precision, verb))
        else:
            raise TemplateError(f"printf verb '{m.group()}' is not supported (use %v %s %d %f %e %g or %%)")
        pos = m.end()
    parts.append(fmt[pos:])
    return tuple(p for p in parts if p != "")


def _run(action: _Action, labels: dict[str, str], value: float) -> str:
    result: float | str | None = None
    for command in action:
        args = [value if a.kind == "value" else labels.get(a.text, "") if a.kind == "label" else a.text
                for a in command.args]
        if result is not None:
            args.append(result)
        result = args[0] if command.function is None else _FUNCTIONS[command.function](command, *args)
    return result if isinstance(result, str) else _plain(result)


def _plain(value: float) -> str:
    return f"{value:g}"


def _number(value: float | str) -> float | None:
    """Prometheus' convertToFloat: a label is parsed; None when it isn't a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return value


def _g4(value: float) -> str:
    """Go's `%.4g`, whose NaN and infinities are spelled NaN, +Inf and -Inf."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _scaled(value: float, step: float, prefixes: tuple[str, ...], up: bool) -> str:
    prefix = ""
    for p in prefixes:
        if (abs(value) < step) if up else (abs(value) >= 1):
            break
        prefix = p
        value = value / step if up else value * step
    return f"{_g4(value)}{prefix}"


def humanize(value: float | str) -> str:
    """1234567 → 1.235M, 0.00012 → 120u: SI prefixes, 4 significant digits."""
    v = _number(value)
    if v is None:
        return str(value)
    if v == 0 or not math.isfinite(v):
        return _g4(v)
    if abs(v) >= 1:
        return _scaled(v, 1000, ("k", "M", "G", "T", "P", "E", "Z", "Y"), up=True)
    return _scaled(v, 1000, ("m", "u", "n", "p", "f", "a", "z", "y"), up=False)


def humanize1024(value: float | str) -> str:
    """1048576 → 1Mi: binary prefixes (Prometheus spells kibi `ki`), 4 significant digits."""
    v = _number(value)
    if v is None:
        return str(value)
    if abs(v) <= 1 or not math.isfinite(v):
        return _g4(v)
    return _scaled(v, 1024, ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"), up=True)


def humanize_percentage(value: float | str) -> str:
    """0.1234567 → 12.35%."""
    v = _number(value)
    return str(value) if v is None else f"{_g4(v * 100)}%"


def humanize_duration(value: float | str) -> str:
    """Seconds as 1d 2h 3m 4s, 1h 2m 3s, 2m 5s, 1.5s or 250ms."""
    v = _number(value)
    if v is None:
        return str(value)
    if not math.isfinite(v):
        return _g4(v)
    if v == 0:
        return "0s"
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        whole = int(abs(v))
        days, hours, minutes, seconds = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(abs(v))}s"
    return _scaled(v, 1000, ("m", "u", "n", "p", "f", "a", "z", "y"), up=False) + "s"


def printf(layout: tuple, *args: float | str) -> str:
    """Go's fmt.Sprintf for the verbs `_layout` accepts (types were checked at save time)."""
    out, values = [], iter(args)
    for part in layout:
        if isinstance(part, str):
            out.append(part)
            continue
        flags, width, precision, verb = part
        arg = next(values)
        if isinstance(arg, str):
            out.append(f"%{flags.replace('0', '')}{width}s" % arg)
        elif not math.isfinite(arg):
            spelled = "NaN" if math.isnan(arg) else ("+Inf" if arg > 0 else "-Inf")
            out.append(f"%{'-' if '-' in flags else ''}{width}s" % spelled)
        elif verb in "vs":
            out.append(f"%{flags}{width}s" % _plain(arg))
        else:
            out.append(f"%{flags}{width}{'.' + precision if precision is not None else ''}{verb}" % arg)
    return "".join(out)


_FUNCTIONS = {
    "humanize": lambda _c, v: humanize(v),
    "humanize1024": lambda _c, v: humanize1024(v),
    "humanizePercentage": lambda _c, v: humanize_percentage(v),
    "humanizeDuration": lambda _c, v: humanize_duration(v),
    "toUpper": lambda _c, v: v.upper(),
    "toLower": lambda _c, v: v.lower(),
    "printf": lambda c, _fmt, *args: printf(c.layout, *args),
}
