"""The `label=name=value` filter every list and the live stream take: parsed once, the same way, with one error."""

from __future__ import annotations

from api.errors import BadParam
from kernel.names import LABEL_NAME_SYNTAX, is_label_name

MAX_VALUE_CHARS = 1024


def parse(values: list[str], param: str = "label") -> list[tuple[str, str]]:
    """(name, value) of each `name=value`; BadParam naming `param` for a bad name or an overlong value."""
    filters = []
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not is_label_name(name):
            raise BadParam("query", param, f"{text[:80]!r} is not name=value with a label name {LABEL_NAME_SYNTAX}")
        if len(value) > MAX_VALUE_CHARS:
            raise BadParam("query", param, f"value of {name} is longer than {MAX_VALUE_CHARS} characters")
        filters.append((name, value))
    return filters
