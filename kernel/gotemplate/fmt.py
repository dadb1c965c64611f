"""Go's fmt package for template values: Sprint, Sprintln and Sprintf with Go's verbs and flags.

Follows https://pkg.go.dev/fmt : %v %s %d %f %e %g %q %x %X %o %b %c %t %T %U %%, width, precision,
the flags `+ - # 0 space`, `*` widths, and Go's complaints in the output (`%!d(string=x)`,
`%!s(MISSING)`, `%!(EXTRA int=1)`) rather than exceptions, since that is what Prometheus shows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .strconv import format_float, quote, quote_rune
from .values import NO_VALUE, go_type, kind, struct_fields


@dataclasses.dataclass(slots=True)
class _Spec:
    plus: bool = False
    minus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    width: int | None = None
    prec: int | None = None


def sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg, "v", _Spec()))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """Go's fmt.Sprintln: operands separated by spaces, then a newline."""
    return " ".join(format_value(arg, "v", _Spec()) for arg in args) + "\n"


def sprintf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf."""
    out: list[str] = []
    argi = 0
    i, end = 0, len(fmt)
    while i < end:
        pct = fmt.find("%", i)
        if pct < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:pct])
        i = pct + 1
        spec = _Spec()
        while i < end and fmt[i] in "+-# 0":
            flag = fmt[i]
            if flag == "+":
                spec.plus = True
            elif flag == "-":
                spec.minus, spec.zero = True, False
            elif flag == "#":
                spec.sharp = True
            elif flag == " ":
                spec.space = True
            elif not spec.minus:
                spec.zero = True
            i += 1
        if i < end and fmt[i] == "*":
            i += 1
            if argi < len(args) and type(args[argi]) is int:
                spec.width = args[argi]
                if spec.width < 0:
                    spec.minus, spec.zero, spec.width = True, False, -spec.width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            start = i
            while i < end and fmt[i].isdigit():
                i += 1
            if i > start:
                spec.width = int(fmt[start:i])
        if i < end and fmt[i] == ".":
            i += 1
            if i < end and fmt[i] == "*":
                i += 1
                if argi < len(args) and type(args[argi]) is int and args[argi] >= 0:
                    spec.prec = args[argi]
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                start = i
                while i < end and fmt[i].isdigit():
                    i += 1
                spec.prec = int(fmt[start:i]) if i > start else 0
        if i >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        if verb == "T":
            out.append(_pad(go_type(arg), spec))
        elif verb == "v" and spec.sharp:
            out.append(_pad(_go_syntax(arg), spec))
        else:
            out.append(format_value(arg, verb, spec))
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type(a)}={format_value(a, 'v', _Spec())}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def format_value(value: Any, verb: str, spec: _Spec, depth: int = 0) -> str:
    """One operand printed with one verb, as fmt's printArg/printValue do."""
    if value is None or value is NO_VALUE:
        if verb in "vT":
            return _pad("<nil>", spec)
        return f"%!{verb}(<nil>)"
    stringer = getattr(value, "go_string", None)
    if stringer is not None and verb in "vsqxX":  # a fmt.Stringer prints through its String method
        return _format_string(stringer(), verb, spec)
    k = kind(value)
    if k == "bool":
        if verb in "tv":
            return _pad("true" if value else "false", spec)
        return _bad_verb(value, verb)
    if k == "int":
        return _format_int(value, verb, spec)
    if k == "float":
        return _format_float(value, verb, spec)
    if k == "string":
        return _format_string(value, verb, spec)
    if k == "map":
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        body = " ".join(f"{format_value(k2, verb, spec, depth + 1)}:{format_value(v, verb, spec, depth + 1)}"
                        for k2, v in items)
        return f"map[{body}]"
    if k == "slice":
        return "[" + " ".join(format_value(v, verb, spec, depth + 1) for v in value) + "]"
    if k == "ptr" and depth > 0:
        return "0xc000010000"  # Go prints an address here; no stable value exists
    if k in ("struct", "ptr"):
        prefix = "&" if k == "ptr" and depth == 0 and not getattr(value, "go_indirect", False) else ""
        return prefix + "{" + " ".join(format_value(v, verb, spec, depth + 1) for _, v in struct_fields(value)) + "}"
    if k == "complex":
        return "(" + _format_float(value.real, verb, spec) + _format_float(value.imag, verb, _Spec(plus=True)) + "i)"
    return _pad(f"{value!r}", spec)


def _sort_key(key: Any) -> tuple:
    if isinstance(key, (int, float)) and not isinstance(key, bool):
        return (0, key, "")
    return (1, 0, str(key))


def _bad_verb(value: Any, verb: str) -> str:
    return f"%!{verb}({go_type(value)}={format_value(value, 'v', _Spec())})"


def _pad(text: str, spec: _Spec, zero_ok: bool = False) -> str:
    if spec.width is None or len(text) >= spec.width:
        return text
    fill = spec.width - len(text)
    if spec.minus:
        return text + " " * fill
    if spec.zero and zero_ok:
        return "0" * fill + text
    return " " * fill + text


def _format_int(value: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad(quote_rune(value), spec)
    if verb == "U":
        text = f"U+{value:04X}"
        if spec.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
            text += f" '{chr(value)}'"
        return _pad(text, spec)
    bases = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
    if verb not in bases:
        return _bad_verb(value, verb)
    base = bases[verb]
    digits = "" if spec.prec == 0 and value == 0 else format(abs(value), {10: "d", 2: "b", 8: "o", 16: "x"}[base])
    if verb == "X":
        digits = digits.upper()
    if spec.prec is not None and len(digits) < spec.prec:
        digits = "0" * (spec.prec - len(digits)) + digits
    prefix = ""
    if spec.sharp or verb == "O":
        prefix = {2: "0b", 8: "0" if verb == "o" else "0o", 16: "0x" if verb == "x" else "0X"}.get(base, "")
        if verb == "o" and digits.startswith("0"):
            prefix = ""
    sign = "-" if value < 0 else "+" if spec.plus else " " if spec.space else ""
    if spec.zero and spec.prec is None and spec.width is not None and not spec.minus:
        body = prefix + digits
        fill = spec.width - len(sign) - len(body)
        return sign + "0" * max(fill, 0) + body
    return _pad(sign + prefix + digits, spec)


def _format_float(value: float, verb: str, spec: _Spec) -> str:
    if verb in "xX":
        return _pad(_hex_float(value, verb, spec.prec), spec)
    table = {"v": ("g", -1), "g": ("g", -1), "G": ("G", -1), "e": ("e", 6), "E": ("E", 6), "f": ("f", 6),
             "F": ("f", 6)}
    if verb not in table:
        return _bad_verb(value, verb)
    fmt, prec = table[verb]
    if spec.prec is not None:
        prec = spec.prec
    num = format_float(value, fmt, prec)
    if spec.sharp and fmt in "gG" and "e" not in num.lower() and "." not in num and num[-1].isdigit():
        num += "."
    if num[0] not in "+-":
        num = "+" + num
    if spec.space and num[0] == "+" and not spec.plus:
        num = " " + num[1:]
    if num[1] in "IN":  # infinities and NaN are never zero padded; NaN shows no sign unless asked
        if num[1] == "N" and not spec.space and not spec.plus:
            num = num[1:]
        return _pad(num, spec)
    if spec.plus or num[0] != "+":
        if spec.zero and spec.width is not None and spec.width > len(num) and not spec.minus:
            return num[0] + "0" * (spec.width - len(num)) + num[1:]
        return _pad(num, spec)
    return _pad(num[1:], spec, zero_ok=True)


def _hex_float(value: float, verb: str, prec: int | None) -> str:
    """Go's %x for floats: 0x1.8p+00, the mantissa normalised to 1.x even for subnormals."""
    if math.isnan(value) or math.isinf(value):
        return format_float(value, "g", -1)
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        mant, exp = 0, 0
    else:
        m, e = math.frexp(abs(value))
        mant, exp = int(m * (1 << 53)), e - 1  # 1.x * 2**exp, 52 fraction bits in mant
    frac_bits = mant & ((1 << 52) - 1) if value != 0 else 0
    lead = 1 if value != 0 else 0
    if prec is not None and prec < 13:
        shift = 52 - 4 * prec
        full = (lead << 52) | frac_bits
        rounded = full >> shift
        rest = full & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and rounded & 1):
            rounded += 1
        if rounded >> (4 * prec) > 1:
            rounded >>= 1
            exp += 1
        lead, digits = rounded >> (4 * prec), f"{rounded & ((1 << (4 * prec)) - 1):0{prec}x}" if prec else ""
    else:
        digits = f"{frac_bits:013x}".rstrip("0")
        if prec is not None:
            digits = digits.ljust(prec, "0")
    body = f"0x{lead}{'.' + digits if digits else ''}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + (body.upper() if verb == "X" else body)


def _format_string(value: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        text = value if spec.prec is None else value[:spec.prec]
        return _pad(text, spec, zero_ok=True)
    if verb == "q":
        text = value if spec.prec is None else value[:spec.prec]
        if spec.sharp and "`" not in text and all(c.isprintable() or c == "\t" for c in text):
            return _pad("`" + text + "`", spec)
        return _pad(quote(text, ascii_only=spec.plus), spec)
    if verb in "xX":
        data = value.encode()
        if spec.prec is not None:
            data = data[:spec.prec]
        digits = "0123456789abcdef" if verb == "x" else "0123456789ABCDEF"
        parts = [digits[b >> 4] + digits[b & 15] for b in data]
        prefix = ("0x" if verb == "x" else "0X") if spec.sharp else ""
        if spec.space:
            return _pad(" ".join(prefix + p for p in parts), spec)
        return _pad(prefix + "".join(parts), spec)
    return _bad_verb(value, verb)


def _go_syntax(value: Any) -> str:
    """A reasonable %#v: Go-syntax literals for the basic types."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return go_type(value) + "{" + ", ".join(f"{_go_syntax(k)}:{_go_syntax(v)}" for k, v in items) + "}"
    if isinstance(value, float):
        text = format_float(value, "g", -1)
        return text if any(c in text for c in ".eIN") else text + ""
    return format_value(value, "v", _Spec())
