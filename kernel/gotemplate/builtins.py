"""Go text/template's predefined functions (and or not len index slice print printf println eq ne lt
le gt ge html js urlquery call), with Go's argument handling and error texts.

See https://pkg.go.dev/text/template#hdr-Functions and Go's text/template/funcs.go.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from .fmt import sprint, sprintf, sprintln
from .functions import ANY, STRING, VALUE, Func, GoError
from .values import NO_VALUE, go_type, is_string_map, kind, truth


def _not(value: Any) -> bool:
    return not truth(value)


def _length(item: Any) -> int:
    if item is None:
        raise GoError("len of nil pointer")
    k = kind(item)
    if k == "string":
        return len(item.encode())
    if k in ("map", "slice"):
        return len(item)
    raise GoError(f"len of type {go_type(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is NO_VALUE or index is None:
        raise GoError("cannot index slice/array with nil")
    if kind(index) != "int":
        raise GoError(f"cannot index slice/array with type {go_type(index)}")
    if index < 0 or index > cap:
        raise GoError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if item is NO_VALUE or item is None:
        raise GoError("index of untyped nil")
    for index in indexes:
        k = kind(item)
        if k in ("slice", "string"):
            data = item.encode() if k == "string" else item
            x = _index_arg(index, len(data))
            if x == len(data):
                raise GoError("reflect: slice index out of range" if k == "slice" else
                              "reflect: string index out of range")
            item = data[x]
        elif k == "map":
            key_is_str = all(isinstance(key, str) for key in item)
            if index is NO_VALUE or index is None:
                raise GoError("value is nil; should be of type string")
            if key_is_str and not isinstance(index, str):
                raise GoError(f"value has type {go_type(index)}; should be string")
            if index in item:
                item = item[index]
            else:
                item = "" if is_string_map(item) else NO_VALUE
        else:
            raise GoError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is NO_VALUE or item is None:
        raise GoError("slice of untyped nil")
    if len(indexes) > 3:
        raise GoError(f"too many slice indexes: {len(indexes)}")
    k = kind(item)
    if k == "string":
        if len(indexes) == 3:
            raise GoError("cannot 3-index slice a string")
        data = item.encode()
    elif k == "slice":
        data = item
    else:
        raise GoError(f"can't slice item of type {go_type(item)}")
    cap = len(data)
    bounds = [0, len(data)]
    for i, index in enumerate(indexes):
        x = _index_arg(index, cap)
        if i < 2:
            bounds[i] = x
    if bounds[0] > bounds[1]:
        raise GoError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    result = data[bounds[0]:bounds[1]]
    return result.decode(errors="replace") if k == "string" else list(result)


def _basic_kind(value: Any) -> str:
    k = kind(value)
    if k in ("bool", "int", "float", "string", "complex"):
        return k
    return "invalid"


def _eq(arg1: Any, *rest: Any) -> bool:
    if not rest:
        raise GoError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in rest:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if arg1 not in (NO_VALUE, None) and arg not in (NO_VALUE, None):
                raise GoError("incompatible types for comparison")
            if (arg1 in (NO_VALUE, None)) and (arg in (NO_VALUE, None)):
                return True
            continue
        if k1 == "invalid":
            if arg1 in (NO_VALUE, None) or arg in (NO_VALUE, None):
                if (arg1 in (NO_VALUE, None)) == (arg in (NO_VALUE, None)):
                    return True
                continue
            if kind(arg1) in ("map", "slice"):
                raise GoError(f"non-comparable type {sprint(arg1)}: {go_type(arg1)}")
            if arg1 is arg or arg1 == arg:
                return True
            continue
        if arg1 == arg:
            return True
    return False


def _ne(arg1: Any, arg2: Any) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise GoError("invalid type for comparison")
    if k1 != k2:
        raise GoError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise GoError("invalid type for comparison")
    return arg1 < arg2


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: Any, arg2: Any) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: Any, arg2: Any) -> bool:
    return not _lt(arg1, arg2)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return sprint(*args)


_HTML_ESCAPES = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _html(*args: Any) -> str:
    return "".join(_HTML_ESCAPES.get(c, c) for c in _eval_args(args))


def _js(*args: Any) -> str:
    out = []
    for c in _eval_args(args):
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == '"':
            out.append('\\"')
        elif c in "<>&=":
            out.append(f"\\u{ord(c):04X}")
        elif ord(c) < 0x20 or not c.isprintable() and ord(c) >= 0x80:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    # Go's url.QueryEscape keeps only A-Z a-z 0-9 - _ . ~ and turns spaces into '+'.
    return quote_plus(_eval_args(args), safe="-_.~")


def _call(fn: Any, *args: Any) -> Any:
    if fn is NO_VALUE or fn is None:
        raise GoError("call of nil")
    if not callable(fn):
        raise GoError(f"non-function of type {go_type(fn)}")
    return fn(*args)


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, *args)


BUILTINS: dict[str, Func] = {
    "and": Func(lambda *a: a[-1], (VALUE,), VALUE, short_circuit=True),
    "or": Func(lambda *a: a[-1], (VALUE,), VALUE, short_circuit=True),
    "not": Func(_not, (VALUE,)),
    "len": Func(_length, (VALUE,)),
    "index": Func(_index, (VALUE,), VALUE),
    "slice": Func(_slice, (VALUE,), VALUE),
    "call": Func(_call, (VALUE,), VALUE),
    "print": Func(sprint, (), ANY),
    "printf": Func(_printf, (STRING,), ANY),
    "println": Func(sprintln, (), ANY),
    "html": Func(_html, (), ANY),
    "js": Func(_js, (), ANY),
    "urlquery": Func(_urlquery, (), ANY),
    "eq": Func(_eq, (VALUE,), VALUE),
    "ne": Func(_ne, (VALUE, VALUE)),
    "lt": Func(_lt, (VALUE, VALUE)),
    "le": Func(_le, (VALUE, VALUE)),
    "gt": Func(_gt, (VALUE, VALUE)),
    "ge": Func(_ge, (VALUE, VALUE)),
}
