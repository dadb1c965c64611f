"""Go's regexp on top of RE2 (Go's regexp is RE2 syntax): compile errors worded as Go's, MatchString,
and ReplaceAllString with Go's `$1` / `${name}` expansion.

See https://pkg.go.dev/regexp#Regexp.Expand : in `$name` the name is the longest run of letters,
digits and underscores, so `$1x` means group "1x" (empty), not group 1 then "x".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

from .functions import GoError
from .strconv import quote

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would log every bad user pattern to stderr
_EXPANSION = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+)|(\$))|\$")
# RE2 (C++) error texts → Go regexp/syntax error codes
_GO_CODES = {
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "missing ]": "missing closing ]",
    "invalid escape sequence": "invalid escape sequence",
    "bad repetition operator": "invalid nested repetition operator",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "trailing \\": "trailing backslash at end of expression",
    "invalid UTF-8": "invalid UTF-8",
    "bad repetition count": "invalid repeat count",
}


@lru_cache(maxsize=1024)
def compile_go(pattern: str) -> Any:
    """Compile a Go regexp; GoError worded as Go's `error parsing regexp: ...` when it is invalid."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as error:
        text = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        code, _, arg = text.partition(": ")
        raise GoError(f"error parsing regexp: {_GO_CODES.get(code, code)}: `{arg}`") from None


def _backquote_or_quote(s: str) -> str:
    """Go regexp's quote(): backquoted when possible (as MustCompile's panic message shows it)."""
    if "`" not in s and all(c == "\t" or (c.isprintable() and c != "\ufeff") for c in s):
        return "`" + s + "`"
    return quote(s)


def must_compile(pattern: str) -> Any:
    """Go's regexp.MustCompile: its panic text when the pattern is invalid."""
    try:
        return compile_go(pattern)
    except GoError as error:
        raise GoError(f"regexp: Compile({_backquote_or_quote(pattern)}): {error}") from None


def match_string(pattern: str, text: str) -> bool:
    """Go's regexp.MatchString: unanchored search."""
    return compile_go(pattern).search(text) is not None


def replace_all_string(pattern: str, repl: str, text: str) -> str:
    """Go's regexp.MustCompile(pattern).ReplaceAllString(text, repl)."""
    regexp = must_compile(pattern)
    out: list[str] = []
    last_end = 0
    search_pos = 0
    while search_pos <= len(text):
        match = regexp.search(text, search_pos)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        # No replacement for an empty match right after the previous match (Go avoids doubling).
        if end > last_end or start == 0:
            out.append(_expand(repl, match, regexp))
        last_end = end
        search_pos = search_pos + 1 if search_pos + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)


def _expand(template: str, match: Any, regexp: Any) -> str:
    def group(m: re.Match[str]) -> str:
        if m.group(3):
            return "$"
        name = m.group(1) or m.group(2)
        if name is None:
            return "$"  # malformed: Go keeps the "$" as text
        if name.isascii() and name.isdigit() and not (name[0] == "0" and len(name) > 1):
            index = int(name)
            return (match.group(index) or "") if index <= regexp.groups else ""
        index = regexp.groupindex.get(name)
        return (match.group(index) or "") if index is not None else ""
    return _EXPANSION.sub(group, template)
