"""How Go values are represented in Python while a template runs, and Go's view of them.

    Go                       Python
    string                   str          (template.HTML: the `HTML` subclass)
    int / float64 / bool     int / float / bool
    nil                      None
    map[string]string        dict of str  (map[string]interface{}: `AnyMap`, or a dict of mixed values)
    slice                    list / tuple
    struct, *struct          an object with capitalised attributes (dataclasses print as Go structs)
    invalid reflect.Value    NO_VALUE     (what a missing field yields; prints as "<no value>")

`go_type` names a value as Go's %T and its error messages do; `truth` is Go's `if` truthiness.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class _NoValue:
    """Go's invalid reflect.Value: the result of evaluating nothing (an unset interface, a missing key)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


class HTML(str):
    """html/template.HTML: a string of a distinct named type (what `safeHtml` returns)."""

    go_type = "template.HTML"


class AnyMap(dict):
    """A map[string]interface{} (what `args` returns): a missing key yields no value, not ""."""

    go_type = "map[string]interface {}"


def go_type(value: Any) -> str:
    """The Go type name of a value, as %T prints it."""
    if value is None:
        return "<nil>"
    declared = getattr(value, "go_type", None)
    if isinstance(declared, str):
        return declared
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]string" if is_string_map(value) else "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def is_string_map(value: dict) -> bool:
    """Whether a dict stands for a map[string]string (whose missing keys read as "")."""
    return not isinstance(value, AnyMap) and all(type(v) is str for v in value.values())


def kind(value: Any) -> str:
    """Go's reflect.Kind name of a value, coarsely: bool int float string map slice struct ptr nil."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, (list, tuple)):
        return "slice"
    if callable(value) and not dataclasses.is_dataclass(value):
        return "func"
    return getattr(value, "go_kind", "struct")


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty string/map/slice are false; structs are true."""
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, float):
        return value != 0 or math.isnan(value)
    if isinstance(value, (bool, int, complex)):
        return value != 0
    if isinstance(value, (str, dict, list, tuple)):
        return len(value) > 0
    return True


def struct_fields(value: Any) -> list[tuple[str, Any]]:
    """The (name, value) fields of a struct-like object, in declaration order."""
    if dataclasses.is_dataclass(value):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    return [(k, v) for k, v in vars(value).items() if not k.startswith("_")]
