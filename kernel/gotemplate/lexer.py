"""Go text/template's lexer: template text → items (text, delimiters, identifiers, literals, ...).

A port of Go 1.19's text/template/parse/lex.go (the Go Prometheus 2.42 is built with), including
trim markers (`{{- ` and ` -}}`), comments, newlines inside actions and `break`/`continue`.
Errors come back as an ERROR item carrying Go's message; the parser reports them.
See https://pkg.go.dev/text/template#hdr-Text_and_spaces .
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from .strconv import quote


class ItemType(IntEnum):
    """Kinds of lexical items; keywords sort after KEYWORD, as in Go (the parser relies on it)."""

    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


KEYWORDS = {
    ".": ItemType.DOT, "block": ItemType.BLOCK, "break": ItemType.BREAK, "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE, "else": ItemType.ELSE, "end": ItemType.END, "if": ItemType.IF,
    "range": ItemType.RANGE, "nil": ItemType.NIL, "template": ItemType.TEMPLATE, "with": ItemType.WITH,
}

LEFT_DELIM, RIGHT_DELIM = "{{", "}}"
LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"
_SPACE_CHARS = " \t\r\n"
_TRIM_MARKER_LEN = 2

# A state of the lexer (Go's stateFn): scans on from the position, returns the next state or None (done).
_State = Callable[[], "_State | None"]


@dataclass(frozen=True, slots=True)
class Item:
    """One lexical item: its type, offset in the input, text and 1-based line."""

    typ: ItemType
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        """How Go's parser names the item in 'unexpected X in Y' messages."""
        if self.typ == ItemType.EOF:
            return "EOF"
        if self.typ == ItemType.ERROR:
            return self.val
        if self.typ > ItemType.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return quote(self.val[:10]) + "..."
        return quote(self.val)


def _is_space(ch: str) -> bool:
    return ch in _SPACE_CHARS and ch != ""


def _is_alnum(ch: str) -> bool:
    return ch != "" and (ch == "_" or ch.isalpha() or ch.isdigit())


class Lexer:
    """Scans a template into a list of items (eagerly: templates are small and parsed once)."""

    def __init__(self, text: str, break_ok: bool = True, continue_ok: bool = True) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Item] = []
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    def run(self) -> list[Item]:
        """Lex the whole input; the list ends with an EOF or an ERROR item."""
        state: _State | None = self._lex_text
        while state is not None:
            state = state()
        return self.items

    # --- helpers ---
    def _line_at(self, pos: int) -> int:
        return 1 + self.input.count("\n", 0, pos)

    def _emit(self, typ: ItemType) -> None:
        self.items.append(Item(typ, self.start, self.input[self.start:self.pos], self._line_at(self.start)))
        self.start = self.pos

    def _error(self, message: str) -> _State | None:
        """Emit an ERROR item; the next state is none (Go's errorf returns a nil stateFn): the scan stops."""
        self.items.append(Item(ItemType.ERROR, self.start, message, self._line_at(self.start)))
        return None

    def _next(self) -> str:
        if self.pos >= len(self.input):
            self.pos += 1  # so that _backup after EOF is harmless, as Go's width=0
            return ""
        ch = self.input[self.pos]
        self.pos += 1
        return ch

    def _backup(self) -> None:
        self.pos -= 1

    def _peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def _accept(self, valid: str) -> bool:
        ch = self._peek()
        if ch and ch in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self._accept(valid):
            pass

    def _at_right_delim(self) -> tuple[bool, bool]:
        rest = self.input[self.pos:]
        if rest.startswith(RIGHT_DELIM):
            return True, False
        if len(rest) >= 2 and _is_space(rest[0]) and rest[1] == "-" and rest[2:].startswith(RIGHT_DELIM):
            return True, True
        return False, False

    def _at_terminator(self) -> bool:
        ch = self._peek()
        return ch == "" or _is_space(ch) or ch in ".,|:)(" or ch == RIGHT_DELIM[0]

    # --- states ---
    def _lex_text(self) -> _State | None:
        x = self.input.find(LEFT_DELIM, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                after = self.input[x + len(LEFT_DELIM):]
                if len(after) >= 2 and after[0] == "-" and _is_space(after[1]):
                    text = self.input[self.start:self.pos]
                    trim = len(text) - len(text.rstrip(_SPACE_CHARS))
                self.pos -= trim
                if self.pos > self.start:
                    self._emit(ItemType.TEXT)
                self.pos += trim
                self.start = self.pos
            return self._lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self._emit(ItemType.TEXT)
        self._emit(ItemType.EOF)
        return None

    def _lex_left_delim(self) -> _State | None:
        self.pos += len(LEFT_DELIM)
        rest = self.input[self.pos:]
        trim = len(rest) >= 2 and rest[0] == "-" and _is_space(rest[1])
        after = _TRIM_MARKER_LEN if trim else 0
        if self.input.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.start = self.pos
            return self._lex_comment
        self._emit(ItemType.LEFT_DELIM)
        self.pos += after
        self.start = self.pos
        self.paren_depth = 0
        return self._lex_inside_action

    def _lex_comment(self) -> _State | None:
        self.pos += len(LEFT_COMMENT)
        i = self.input.find(RIGHT_COMMENT, self.pos)
        if i < 0:
            return self._error("unclosed comment")
        self.pos = i + len(RIGHT_COMMENT)
        delim, trim = self._at_right_delim()
        if not delim:
            return self._error("comment ends before closing delimiter")
        if trim:
            self.pos += _TRIM_MARKER_LEN
        self.pos += len(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
        self.start = self.pos
        return self._lex_text

    def _lex_right_delim(self) -> _State | None:
        _, trim = self._at_right_delim()
        if trim:
            self.pos += _TRIM_MARKER_LEN
            self.start = self.pos
        self.pos += len(RIGHT_DELIM)
        self._emit(ItemType.RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos:]
            self.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
            self.start = self.pos
        return self._lex_text

    def _lex_inside_action(self) -> _State | None:
        delim, _ = self._at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self._lex_right_delim
            return self._error("unclosed left paren")
        ch = self._next()
        if ch == "":
            return self._error("unclosed action")
        if _is_space(ch):
            self._backup()  # put the space back in case we have " -}}"
            return self._lex_space
        if ch == "=":
            self._emit(ItemType.ASSIGN)
        elif ch == ":":
            if self._next() != "=":
                return self._error("expected :=")
            self._emit(ItemType.DECLARE)
        elif ch == "|":
            self._emit(ItemType.PIPE)
        elif ch == '"':
            return self._lex_quote
        elif ch == "`":
            return self._lex_raw_quote
        elif ch == "$":
            return self._lex_variable
        elif ch == "'":
            return self._lex_char
        elif ch == "." and not ("0" <= self._peek() <= "9" and self._peek() != ""):
            return self._lex_field
        elif ch in "+-." or "0" <= ch <= "9":
            self._backup()
            return self._lex_number
        elif _is_alnum(ch):
            self._backup()
            return self._lex_identifier
        elif ch == "(":
            self._emit(ItemType.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self._emit(ItemType.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self._error("unexpected right paren U+0029 ')'")
        elif ord(ch) < 0x80 and ch.isprintable():
            self._emit(ItemType.CHAR)
        else:
            return self._error(f"unrecognized character in action: {_go_rune(ch)}")
        return self._lex_inside_action

    def _lex_space(self) -> _State | None:
        spaces = 0
        while _is_space(self._peek()):
            self.pos += 1
            spaces += 1
        # A trim-marked closing delimiter has a minus after a space: leave that space to it.
        rest = self.input[self.pos - 1:]
        if len(rest) >= 2 and _is_space(rest[0]) and rest[1] == "-" and rest[2:].startswith(RIGHT_DELIM):
            self.pos -= 1
            if spaces == 1:
                return self._lex_right_delim
        self._emit(ItemType.SPACE)
        return self._lex_inside_action

    def _lex_identifier(self) -> _State | None:
        while _is_alnum(self._peek()):
            self.pos += 1
        word = self.input[self.start:self.pos]
        if not self._at_terminator():
            return self._error(f"bad character {_go_rune(self._peek())}")
        kind = KEYWORDS.get(word)
        if kind is not None and kind > ItemType.KEYWORD:
            if (kind == ItemType.BREAK and not self.break_ok) or (kind == ItemType.CONTINUE and not self.continue_ok):
                self._emit(ItemType.IDENTIFIER)
            else:
                self._emit(kind)
        elif word in ("true", "false"):
            self._emit(ItemType.BOOL)
        else:
            self._emit(ItemType.IDENTIFIER)
        return self._lex_inside_action

    def _lex_field(self) -> _State | None:
        return self._lex_field_or_variable(ItemType.FIELD)

    def _lex_variable(self) -> _State | None:
        if self._at_terminator():
            self._emit(ItemType.VARIABLE)
            return self._lex_inside_action
        return self._lex_field_or_variable(ItemType.VARIABLE)

    def _lex_field_or_variable(self, typ: ItemType) -> _State | None:
        if self._at_terminator():
            self._emit(ItemType.VARIABLE if typ == ItemType.VARIABLE else ItemType.DOT)
            return self._lex_inside_action
        while _is_alnum(self._peek()):
            self.pos += 1
        if not self._at_terminator():
            return self._error(f"bad character {_go_rune(self._peek())}")
        self._emit(typ)
        return self._lex_inside_action

    def _lex_char(self) -> _State | None:
        return self._lex_delimited("'", ItemType.CHAR_CONSTANT, "unterminated character constant")

    def _lex_number(self) -> _State | None:
        if not self._scan_number():
            return self._error(f"bad number syntax: {quote(self.input[self.start:self.pos])}")
        if self._peek() in ("+", "-") and self._peek() != "":
            if not self._scan_number() or self.input[self.pos - 1] != "i":
                return self._error(f"bad number syntax: {quote(self.input[self.start:self.pos])}")
            self._emit(ItemType.COMPLEX)
        else:
            self._emit(ItemType.NUMBER)
        return self._lex_inside_action

    def _scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        if _is_alnum(self._peek()):
            self.pos += 1
            return False
        return True

    def _lex_quote(self) -> _State | None:
        return self._lex_delimited('"', ItemType.STRING, "unterminated quoted string")

    def _lex_delimited(self, closing: str, typ: ItemType, unterminated: str) -> _State | None:
        """A quoted string or character constant up to `closing`, backslash escapes skipped (Go's lexQuote/lexChar)."""
        while True:
            ch = self._next()
            if ch == "\\":
                ch = self._next()
                if ch not in ("", "\n"):
                    continue
                return self._error(unterminated)
            if ch in ("", "\n"):
                return self._error(unterminated)
            if ch == closing:
                break
        self._emit(typ)
        return self._lex_inside_action

    def _lex_raw_quote(self) -> _State | None:
        end = self.input.find("`", self.pos)
        if end < 0:
            return self._error("unterminated raw quoted string")
        self.pos = end + 1
        self._emit(ItemType.RAW_STRING)
        return self._lex_inside_action


def _go_rune(ch: str) -> str:
    """Go's %#U: U+0041 'A'."""
    if ch == "":
        return "U+FFFFFFFFFFFFFFFF"
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


def lex(text: str, break_ok: bool = True, continue_ok: bool = True) -> list[Item]:
    """All items of `text`, ending with EOF or ERROR."""
    return Lexer(text, break_ok, continue_ok).run()
