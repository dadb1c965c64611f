"""Go's strconv, as far as templates need it: quoting, literal unquoting, float formatting and parsing.

Go prints a float64 differently from Python (`1e+06`, `+Inf`, `NaN`), and Prometheus' `$value` is a
float64, so alert text depends on getting this exactly right.
See https://pkg.go.dev/strconv#FormatFloat and https://pkg.go.dev/strconv#Unquote.
"""

from __future__ import annotations

import math
import re

_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_UNESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


class SyntaxErrorGo(ValueError):
    """strconv.ErrSyntax: the literal is not valid Go syntax (Go's message is just `invalid syntax`)."""

    def __init__(self) -> None:
        super().__init__("invalid syntax")


def quote(s: str, ascii_only: bool = False) -> str:
    """Go's strconv.Quote (or QuoteToASCII): double-quoted, Go escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif (ch.isprintable() or ch == " ") and not (ascii_only and code >= 0x80):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def quote_rune(code: int) -> str:
    """Go's strconv.QuoteRune: a single-quoted character literal (what %q prints for an integer)."""
    ch = chr(code) if 0 <= code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + quote(ch)[1:-1] + "'"


def unquote(literal: str) -> str:
    """Go's strconv.Unquote for "...", `...` and '...' literals; raises SyntaxErrorGo."""
    if len(literal) < 2 or literal[0] != literal[-1] or literal[0] not in "\"'`":
        raise SyntaxErrorGo()
    quote_char, body = literal[0], literal[1:-1]
    if quote_char == "`":
        if "`" in body:
            raise SyntaxErrorGo()
        return body.replace("\r", "")
    if "\n" in body:
        raise SyntaxErrorGo()
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == quote_char:
            raise SyntaxErrorGo()
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        ch, i = _unescape(body, i + 1, quote_char)
        out.append(ch)
    result = "".join(out)
    if quote_char == "'" and len(result) != 1:
        raise SyntaxErrorGo()
    return result


def _unescape(body: str, i: int, quote_char: str) -> tuple[str, int]:
    if i >= len(body):
        raise SyntaxErrorGo()
    c = body[i]
    if c in _UNESCAPES:
        return _UNESCAPES[c], i + 1
    if c == quote_char:
        return c, i + 1
    if c in "xuU":
        width = {"x": 2, "u": 4, "U": 8}[c]
        digits = body[i + 1:i + 1 + width]
        if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
            raise SyntaxErrorGo()
        code = int(digits, 16)
        if c != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
            raise SyntaxErrorGo()
        return chr(code), i + 1 + width
    if c in "01234567":
        digits = body[i:i + 3]
        if len(digits) != 3 or not re.fullmatch(r"[0-7]{3}", digits) or int(digits, 8) > 255:
            raise SyntaxErrorGo()
        return chr(int(digits, 8)), i + 3
    raise SyntaxErrorGo()


# --- floats ---------------------------------------------------------------------------------

def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of |v| and the decimal point position (Go's digs.d, digs.dp)."""
    text = repr(abs(v))  # Python's repr is the shortest round-trip form, as Go's shortest mode
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    lead_zeros = len(whole + frac) - len((whole + frac).lstrip("0"))
    dp = len(whole) - lead_zeros + (int(exp) if exp else 0)
    digits = digits.rstrip("0")
    if not digits:
        return "0", 1
    return digits, dp


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def format_float(v: float, fmt: str, prec: int) -> str:
    """Go's strconv.FormatFloat(v, fmt, prec, 64) for fmt in 'e', 'E', 'f', 'g', 'G'; prec -1 = shortest."""
    special = _special(v)
    if special is not None:
        return special
    neg = math.copysign(1.0, v) < 0
    sign = "-" if neg else ""
    if prec < 0:
        digits, dp = _shortest_digits(v)
        if v == 0:
            digits, dp = "0", 1
        if fmt in "eE":
            return sign + _fmt_e(digits, dp, len(digits) - 1, fmt)
        if fmt == "f":
            return sign + _fmt_f(digits, dp, max(len(digits) - dp, 0))
        exp = dp - 1
        if exp < -4 or exp >= 6:  # Go: "if precision was the shortest possible, use precision 6"
            return sign + _fmt_e(digits, dp, len(digits) - 1, "e" if fmt == "g" else "E")
        return sign + _fmt_f(digits, dp, max(len(digits) - dp, 0))
    if fmt in "eE":
        return f"{v:.{prec}{fmt}}"
    if fmt == "f":
        return f"{v:.{prec}f}"
    # Go's %g with a precision rounds to prec significant digits and drops trailing zeros, as C does.
    return f"{v:.{max(prec, 1)}{fmt}}"


def _fmt_e(digits: str, dp: int, prec: int, e: str) -> str:
    first, rest = digits[0], digits[1:]
    rest = (rest + "0" * prec)[:prec]
    exp = dp - 1 if digits != "0" else 0
    mantissa = first + ("." + rest if prec > 0 else "")
    return f"{mantissa}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(digits: str, dp: int, prec: int) -> str:
    if dp <= 0:
        whole = "0"
        frac = "0" * (-dp) + digits
    else:
        whole = (digits + "0" * dp)[:dp]
        frac = digits[dp:]
    frac = (frac + "0" * prec)[:prec]
    return whole + ("." + frac if prec > 0 else "")


_FLOAT = re.compile(r"[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d*(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?\d+)")
_SPECIALS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "+infinity": math.inf,
             "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}


class RangeErrorGo(ValueError):
    """strconv.ErrRange: the value is out of range for float64."""


def parse_float(s: str) -> float:
    """Go's strconv.ParseFloat(s, 64); raises ValueError worded as Go's `strconv.ParseFloat: parsing "x": ...`."""
    special = _SPECIALS.get(s.lower())
    if special is not None:
        return special
    if s and _FLOAT.fullmatch(s) and any(c.isdigit() for c in s) and "__" not in s:
        try:
            if s.lstrip("+-")[:2] in ("0x", "0X"):
                value = float.fromhex(s.replace("_", ""))
            else:
                if "_" in s and not _underscores_ok(s):
                    raise ValueError
                value = float(s.replace("_", ""))
        except (ValueError, OverflowError):
            value = None
        if value is not None:
            if math.isinf(value):
                raise RangeErrorGo(f"strconv.ParseFloat: parsing {quote(s)}: value out of range")
            return value
    raise ValueError(f"strconv.ParseFloat: parsing {quote(s)}: invalid syntax")


def _underscores_ok(s: str) -> bool:
    """Go's underscoreOK: each '_' sits between digits (or after a base prefix)."""
    body = s.lstrip("+-")
    for i, ch in enumerate(body):
        if ch == "_" and not (0 < i < len(body) - 1 and body[i - 1].isalnum() and body[i + 1].isalnum()):
            return False
    return True


def parse_int(text: str) -> int:
    """Go's strconv.ParseInt(text, 0, 64)'s syntax (0x, 0o, 0b, leading-0 octal, underscores); ValueError."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if text.count("-") + text.count("+") > 1 or not body:
        raise ValueError(text)
    lower = body.lower()
    if lower.startswith(("0x", "0o", "0b")):
        base = {"x": 16, "o": 8, "b": 2}[lower[1]]
        digits = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:]
    else:
        base, digits = 10, body
    if not digits or digits.startswith("_") and base == 10 or digits.endswith("_") or "__" in digits:
        raise ValueError(text)
    return sign * int(digits.replace("_", ""), base)
