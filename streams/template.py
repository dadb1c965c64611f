"""Label/annotation templates in the Prometheus style subset: `{{ $labels.name }}` and `{{ $value }}`."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_LABEL_REF = re.compile(r"^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$")


class TemplateError(ValueError):
    """A template that uses something other than $labels.<name> or $value."""


def validate_template(text: str) -> None:
    """Raise TemplateError for an unsupported or unclosed placeholder."""
    if text.count("{{") != text.count("}}"):
        raise TemplateError(f"unbalanced '{{{{' / '}}}}' in '{text}'")
    for expr in _PLACEHOLDER.findall(text):
        if expr != "$value" and not _LABEL_REF.match(expr):
            raise TemplateError(f"'{{{{ {expr} }}}}' is not supported: use {{{{ $labels.NAME }}}} or {{{{ $value }}}}")


def render(text: str, labels: dict[str, str], value: float) -> str:
    """Fill placeholders; a missing label renders empty, as in Prometheus."""
    if "{{" not in text:
        return text

    def substitute(match: re.Match) -> str:
        expr = match.group(1)
        if expr == "$value":
            return f"{value:g}"
        ref = _LABEL_REF.match(expr)
        return labels.get(ref.group(1), "") if ref else match.group(0)

    return _PLACEHOLDER.sub(substitute, text)
