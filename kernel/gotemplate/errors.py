"""The one error type of the Go template engine, carrying Go's exact message and the line:col at fault."""

from __future__ import annotations

from .strconv import quote as go_quote


class TemplateError(ValueError):
    """A template failed to parse or execute.

    `str()` reads like Go's message with the column added (`template: t:1:12: function "foo" not
    defined`); `go_message` is Go's own text, byte for byte, which is what Prometheus puts into an
    alert when expansion fails (Go's parse errors name only the line, its execution errors line:col).
    `position` is (line, column) with a 1-based line and Go's 0-based byte column, or None.
    """

    def __init__(self, message: str, *, name: str, position: tuple[int, int] | None,
                 go_message: str, during: str = "parse") -> None:
        super().__init__(message)
        self.name = name
        self.position = position
        self.go_message = go_message
        self.during = during  # "parse" or "execute": Prometheus words the two differently


def position_of(text: str, pos: int) -> tuple[int, int]:
    """(line, column) of offset `pos` in `text`, as Go's Tree.ErrorContext counts them.

    The column is Go's: the 0-based count of UTF-8 bytes before `pos` on its line.
    """
    before = text[:pos]
    newline = before.rfind("\n")
    return 1 + before.count("\n"), len(before[newline + 1:].encode())


def parse_error(name: str, text: str, pos: int, line: int, detail: str) -> TemplateError:
    """A parse error worded as Go's `Tree.errorf` does (line only), with the column kept apart."""
    _, column = position_of(text, pos)
    return TemplateError(f"template: {name}:{line}:{column}: {detail}", name=name, position=(line, column),
                         go_message=f"template: {name}:{line}: {detail}", during="parse")


def exec_error(parse_name: str, exec_name: str, text: str, pos: int | None, context: str,
               detail: str) -> TemplateError:
    """An execution error worded as Go's `state.errorf`: `template: p:L:C: executing "t" at <ctx>: ...`."""
    if pos is None:
        message = f"template: {exec_name}: {detail}"
        return TemplateError(message, name=exec_name, position=None, go_message=message, during="execute")
    line, column = position_of(text, pos)
    message = f"template: {parse_name}:{line}:{column}: executing {go_quote(exec_name)} at <{context}>: {detail}"
    return TemplateError(message, name=exec_name, position=(line, column), go_message=message, during="execute")

