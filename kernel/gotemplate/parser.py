"""Go text/template's parser: items → parse trees, one per template name (the main one and each define).

A port of Go 1.19's text/template/parse/parse.go, with its error messages word for word: unknown
functions, unclosed actions and stray `{{end}}`s are caught here, at parse time, as in Go.
See https://pkg.go.dev/text/template/parse .
"""

from __future__ import annotations

from collections.abc import Container

from . import nodes as n
from .errors import TemplateError, parse_error
from .lexer import Item, ItemType as T, lex
from .strconv import SyntaxErrorGo, parse_float, parse_int, quote, unquote

_OPERAND_STARTS = frozenset({T.BOOL, T.CHAR_CONSTANT, T.COMPLEX, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER, T.NIL,
                             T.RAW_STRING, T.STRING, T.VARIABLE, T.LEFT_PAREN})
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64_MAX = (1 << 64) - 1


class _Abort(Exception):
    """Unwinds the parser to `parse`, carrying the TemplateError (Go panics and recovers likewise)."""


def parse_trees(text: str, name: str, funcs: Container[str]) -> dict[str, n.ListNode]:
    """Parse `text` into {template name: body}; raise TemplateError worded as Go's parser."""
    return _Parser(text, name, funcs).parse()


def is_empty_tree(node: n.Node | None) -> bool:
    """Go's parse.IsEmptyTree: only whitespace text (and empty lists)."""
    if node is None:
        return True
    if isinstance(node, n.ListNode):
        return all(is_empty_tree(child) for child in node.nodes)
    if isinstance(node, n.TextNode):
        return not node.text.strip()
    return False


class _Parser:
    def __init__(self, text: str, name: str, funcs: Container[str]) -> None:
        self.text = text
        self.parse_name = name
        self.funcs = funcs
        self.items = lex(text, break_ok="break" not in funcs, continue_ok="continue" not in funcs)
        self.i = 0
        self.last: Item = self.items[0]
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.trees: dict[str, n.ListNode] = {}

    # --- token stream ---
    def next(self) -> Item:
        item = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        self.last = item
        return item

    def backup(self, count: int = 1) -> None:
        self.i -= count

    def peek(self) -> Item:
        return self.items[min(self.i, len(self.items) - 1)]

    def next_non_space(self) -> Item:
        item = self.next()
        while item.typ == T.SPACE:
            item = self.next()
        return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # --- errors ---
    def errorf(self, detail: str) -> None:
        raise _Abort(parse_error(self.parse_name, self.text, self.last.pos, self.last.line, detail))

    def unexpected(self, item: Item, context: str) -> None:
        if item.typ == T.ERROR:
            extra = ""
            if self.action_line and self.action_line != item.line:
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if item.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self.errorf(f"{item}{extra}")
        self.errorf(f"unexpected {item} in {context}")

    def expect(self, expected: T, context: str) -> Item:
        item = self.next_non_space()
        if item.typ != expected:
            self.unexpected(item, context)
        return item

    # --- structure ---
    def parse(self) -> dict[str, n.ListNode]:
        try:
            root = n.ListNode(self.peek().pos)
            while self.peek().typ != T.EOF:
                if self.peek().typ == T.LEFT_DELIM:
                    mark = self.i
                    self.next()
                    if self.next_non_space().typ == T.DEFINE:
                        self.parse_definition()
                        continue
                    self.i = mark
                node = self.text_or_action()
                if isinstance(node, (n.EndNode, n.ElseNode)):
                    self.errorf(f"unexpected {node}")
                root.nodes.append(node)
            self.add(self.parse_name, root)
        except _Abort as abort:
            error = abort.args[0]
            assert isinstance(error, TemplateError)
            raise error from None
        return self.trees

    def add(self, name: str, root: n.ListNode) -> None:
        existing = self.trees.get(name)
        if existing is None or is_empty_tree(existing):
            self.trees[name] = root
        elif not is_empty_tree(root):
            self.errorf(f"template: multiple definition of template {quote(name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        item = self.next_non_space()
        if item.typ not in (T.STRING, T.RAW_STRING):
            self.unexpected(item, context)
        name = self.unquote(item.val)
        self.expect(T.RIGHT_DELIM, context)
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        if not isinstance(end, n.EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.vars = saved_vars
        self.add(name, body)

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        body = n.ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != T.EOF:
            node = self.text_or_action()
            if isinstance(node, (n.EndNode, n.ElseNode)):
                return body, node
            body.nodes.append(node)
        self.errorf("unexpected EOF")
        raise AssertionError

    def text_or_action(self) -> n.Node:
        item = self.next_non_space()
        if item.typ == T.TEXT:
            return n.TextNode(item.pos, item.val)
        if item.typ == T.LEFT_DELIM:
            saved, self.action_line = self.action_line, item.line
            try:
                return self.action()
            finally:
                self.action_line = saved
        self.unexpected(item, "input")
        raise AssertionError

    def action(self) -> n.Node:
        item = self.next_non_space()
        handler = {
            T.BLOCK: self.block_control, T.ELSE: self.else_control, T.END: self.end_control,
            T.IF: lambda: self.branch(n.IfNode, True, "if"),
            T.RANGE: lambda: self.branch(n.RangeNode, False, "range"),
            T.WITH: lambda: self.branch(n.WithNode, False, "with"),
            T.TEMPLATE: self.template_control,
        }.get(item.typ)
        if handler is not None:
            return handler()
        if item.typ in (T.BREAK, T.CONTINUE):
            word = item.val
            after = self.next_non_space()
            if after.typ != T.RIGHT_DELIM:
                self.unexpected(after, "{{" + word + "}}")
            if self.range_depth == 0:
                self.errorf("{{" + word + "}} outside {{range}}")
            cls = n.BreakNode if item.typ == T.BREAK else n.ContinueNode
            return cls(item.pos, item.line)
        self.backup()
        item = self.peek()
        return n.ActionNode(item.pos, item.line, self.pipeline("command", T.RIGHT_DELIM))

    def branch(self, cls: type[n.BranchNode], allow_else_if: bool, context: str) -> n.BranchNode:
        saved_vars = len(self.vars)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body = None
        if isinstance(nxt, n.ElseNode):
            if allow_else_if and self.peek().typ == T.IF:
                # {{if a}}_{{else if b}}_{{end}} is {{if a}}_{{else}}{{if b}}_{{end}}{{end}}: one {{end}}.
                self.next()
                else_body = n.ListNode(nxt.pos, [self.branch(n.IfNode, True, "if")])
            else:
                else_body, nxt = self.item_list()
                if not isinstance(nxt, n.EndNode):
                    self.errorf(f"expected end; found {nxt}")
        del self.vars[saved_vars:]
        return cls(pipe.pos, pipe.line, pipe, body, else_body)

    def end_control(self) -> n.Node:
        return n.EndNode(self.expect(T.RIGHT_DELIM, "end").pos)

    def else_control(self) -> n.Node:
        peek = self.peek_non_space()
        if peek.typ == T.IF:
            return n.ElseNode(peek.pos, peek.line)  # "else if": the if is parsed by the branch
        item = self.expect(T.RIGHT_DELIM, "else")
        return n.ElseNode(item.pos, item.line)

    def template_name(self, item: Item, context: str) -> str:
        if item.typ not in (T.STRING, T.RAW_STRING):
            self.unexpected(item, context)
        return self.unquote(item.val)

    def template_control(self) -> n.Node:
        context = "template clause"
        item = self.next_non_space()
        name = self.template_name(item, context)
        pipe = None
        if self.next_non_space().typ != T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return n.TemplateNode(item.pos, item.line, name, pipe)

    def block_control(self) -> n.Node:
        context = "block clause"
        item = self.next_non_space()
        name = self.template_name(item, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        saved_vars, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self.item_list()
        if not isinstance(end, n.EndNode):
            self.errorf(f"unexpected {end} in {context}")
        self.vars, self.range_depth = saved_vars, saved_depth
        self.add(name, body)
        return n.TemplateNode(item.pos, item.line, name, pipe)

    # --- pipelines ---
    def pipeline(self, context: str, end: T) -> n.PipeNode:
        item = self.peek_non_space()
        pipe = n.PipeNode(item.pos, item.line)
        while True:  # declarations: "$x :=", "$x =", "$i, $v :=" (range only)
            v = self.peek_non_space()
            if v.typ != T.VARIABLE:
                break
            mark = self.i
            self.next_non_space()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.typ == T.ASSIGN
                self.next_non_space()
                pipe.decl.append(n.VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
            elif nxt.typ == T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(n.VariableNode(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            elif after_variable.typ == T.SPACE:
                self.i = mark
            else:
                self.i = mark
            break
        while True:
            item = self.next_non_space()
            if item.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if item.typ in _OPERAND_STARTS:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(item, context)

    def check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode, n.StringNode)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> n.CommandNode:
        cmd = n.CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            item = self.next()
            if item.typ == T.SPACE:
                continue
            if item.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif item.typ != T.PIPE:
                self.unexpected(item, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T.FIELD:
            chain = n.ChainNode(self.peek().pos, node)
            while self.peek().typ == T.FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, n.FieldNode):
                return n.FieldNode(chain.pos, node.ident + chain.fields)
            if isinstance(node, n.VariableNode):
                return n.VariableNode(chain.pos, node.ident + chain.fields)
            if isinstance(node, (n.BoolNode, n.StringNode, n.NumberNode, n.NilNode, n.DotNode)):
                self.errorf(f"unexpected . after term {quote(str(node))}")
            return chain
        return node

    def term(self) -> n.Node | None:
        item = self.next_non_space()
        typ = item.typ
        if typ == T.IDENTIFIER:
            if item.val not in self.funcs:
                self.errorf(f"function {quote(item.val)} not defined")
            return n.IdentifierNode(item.pos, item.val)
        if typ == T.DOT:
            return n.DotNode(item.pos)
        if typ == T.NIL:
            return n.NilNode(item.pos)
        if typ == T.VARIABLE:
            ident = item.val.split(".")
            if ident[0] not in self.vars:
                self.errorf(f"undefined variable {quote(ident[0])}")
            return n.VariableNode(item.pos, ident)
        if typ == T.FIELD:
            return n.FieldNode(item.pos, item.val[1:].split("."))
        if typ == T.BOOL:
            return n.BoolNode(item.pos, item.val == "true")
        if typ in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            return self.number(item)
        if typ == T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            return n.StringNode(item.pos, item.val, self.unquote(item.val))
        self.backup()
        return None

    def unquote(self, literal: str) -> str:
        try:
            return unquote(literal)
        except SyntaxErrorGo:
            self.errorf("invalid syntax")
            raise AssertionError from None

    def number(self, item: Item) -> n.NumberNode:
        """Go's newNumber: record every type the literal fits (int, uint, float)."""
        text = item.val
        node = n.NumberNode(item.pos, text)
        if item.typ == T.CHAR_CONSTANT:
            try:
                code = ord(unquote(text))
            except (SyntaxErrorGo, TypeError):
                self.errorf(f"malformed character constant: {text}")
                raise AssertionError from None
            node.is_int = node.is_uint = node.is_float = True
            node.int_value, node.float_value = code, float(code)
            return node
        if item.typ == T.COMPLEX or text.endswith("i"):
            try:
                node.complex_value = complex(text.replace("i", "j"))
            except ValueError:
                self.errorf(f"illegal number syntax: {quote(text)}")
            node.is_complex = True
            if node.complex_value.imag == 0:
                node.is_float, node.float_value = True, node.complex_value.real
                if node.float_value == int(node.float_value):
                    node.is_int, node.int_value = True, int(node.float_value)
            return node
        try:
            value = parse_int(text)
        except ValueError:
            value = None
        if value is not None:
            node.is_uint = 0 <= value <= _UINT64_MAX and not text.startswith(("+", "-")) or value == 0
            node.is_int = _INT64[0] <= value <= _INT64[1]
            if node.is_int or node.is_uint:
                node.int_value, node.float_value, node.is_float = value, float(value), True
                return node
        try:
            f = parse_float(text)
        except ValueError:
            self.errorf(f"illegal number syntax: {quote(text)}")
            raise AssertionError from None
        if not any(c in text for c in ".eEpP"):
            self.errorf(f"integer overflow: {quote(text)}")
        node.is_float, node.float_value = True, f
        if f == f and abs(f) != float("inf") and f == int(f):
            whole = int(f)
            node.is_int = _INT64[0] <= whole <= _INT64[1]
            node.is_uint = 0 <= whole <= _UINT64_MAX
            node.int_value = whole
        return node
