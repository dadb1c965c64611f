"""The parse tree of a Go template: one class per node kind of text/template/parse/node.go.

`str(node)` renders the node back as Go does; execution errors quote it (`at <humanize "x">`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .strconv import quote


@dataclass(slots=True)
class Node:
    """Base of every node: `pos` is the offset of the node in the template text."""

    pos: int


@dataclass(slots=True)
class ListNode(Node):
    """A sequence of nodes (a template body, or the body of an if/range/with)."""

    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(slots=True)
class TextNode(Node):
    """Plain text, written out as is."""

    text: str = ""

    def __str__(self) -> str:
        return quote(self.text)


@dataclass(slots=True)
class DotNode(Node):
    """The cursor `.`."""

    def __str__(self) -> str:
        return "."


@dataclass(slots=True)
class NilNode(Node):
    """The untyped constant `nil`."""

    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True)
class BoolNode(Node):
    """`true` or `false`."""

    value: bool = False

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True)
class NumberNode(Node):
    """A numeric constant; like Go's, it records every Go type the literal fits."""

    text: str = ""
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int_value: int = 0
    float_value: float = 0.0
    complex_value: complex = 0j

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class StringNode(Node):
    """A string constant: `quoted` as written, `text` unquoted."""

    quoted: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True)
class IdentifierNode(Node):
    """A function name."""

    ident: str = ""

    def __str__(self) -> str:
        return self.ident


@dataclass(slots=True)
class VariableNode(Node):
    """`$x` or `$x.Field.Key`: the variable name then the field chain."""

    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(slots=True)
class FieldNode(Node):
    """`.Field.Key`: a chain of field/key names applied to dot."""

    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(slots=True)
class ChainNode(Node):
    """A term followed by fields: `(pipeline).Field`."""

    node: Node
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return base + "".join("." + name for name in self.fields)


@dataclass(slots=True)
class CommandNode(Node):
    """One command of a pipeline: a function/field/value and its arguments."""

    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass(slots=True)
class PipeNode(Node):
    """A pipeline with optional declarations (`$x := ...` or, if is_assign, `$x = ...`)."""

    line: int = 0
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(slots=True)
class ActionNode(Node):
    """`{{pipeline}}`: evaluate, and print unless it declares variables."""

    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True)
class BranchNode(Node):
    """Common shape of if/range/with: a pipeline, a body and an optional else body."""

    line: int
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None = None
    keyword = ""

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass(slots=True)
class IfNode(BranchNode):
    """`{{if}}`."""

    keyword = "if"


@dataclass(slots=True)
class RangeNode(BranchNode):
    """`{{range}}`."""

    keyword = "range"


@dataclass(slots=True)
class WithNode(BranchNode):
    """`{{with}}`."""

    keyword = "with"


@dataclass(slots=True)
class TemplateNode(Node):
    """`{{template "name" pipeline}}`."""

    line: int = 0
    name: str = ""
    pipe: PipeNode | None = None

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + quote(self.name) + "}}"
        return "{{template " + quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass(slots=True)
class BreakNode(Node):
    """`{{break}}`."""

    line: int = 0

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(slots=True)
class ContinueNode(Node):
    """`{{continue}}`."""

    line: int = 0

    def __str__(self) -> str:
        return "{{continue}}"


@dataclass(slots=True)
class EndNode(Node):
    """`{{end}}`; only seen by the parser."""

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(slots=True)
class ElseNode(Node):
    """`{{else}}`; only seen by the parser."""

    line: int = 0

    def __str__(self) -> str:
        return "{{else}}"
