"""Executing a parsed Go template against data: a port of Go 1.19's text/template/exec.go.

Fields, map keys, variables, pipelines, if/with/range/break/continue, template calls and function
calls behave as in Go, including its type checks and its error messages, which Prometheus shows in
the alert. Maps use Prometheus' option `missingkey=zero`: a missing key of a map[string]string
reads as "" (Prometheus template/template.go sets it).
See https://pkg.go.dev/text/template#hdr-Actions .
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from . import nodes as n
from .errors import TemplateError, exec_error
from .fmt import sprint
from .functions import ANY, FLOAT64, INT, STRING, VALUE, BOOL, Func, GoError
from .strconv import quote
from .values import NO_VALUE, AnyMap, go_type, is_string_map, kind, truth

MAX_EXEC_DEPTH = 100_000  # Go's limit on nested {{template}} calls
_PY_DEPTH = 200           # ours: Python's stack ends long before Go's limit
_MISSING = object()       # "no final value": the command is not fed by a pipe (Go's missingVal)
_NILABLE = ("map", "slice", "ptr", "nil")


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Abort(Exception):
    """Carries a TemplateError up through the walk (Go panics with an ExecError likewise)."""


class State:
    """The execution state of one template run: output, variables, dot's template and position."""

    def __init__(self, text: str, parse_name: str, trees: Mapping[str, n.ListNode], funcs: Mapping[str, Func],
                 exec_name: str) -> None:
        self.text = text
        self.parse_name = parse_name
        self.trees = trees
        self.funcs = funcs
        self.exec_name = exec_name
        self.out: list[str] = []
        self.vars: list[list[Any]] = []
        self.node: n.Node | None = None
        self.depth = 0

    # --- errors ---
    def at(self, node: n.Node) -> None:
        self.node = node

    def errorf(self, detail: str) -> NoReturn:
        node = self.node
        raise _Abort(exec_error(self.parse_name, self.exec_name, self.text, None if node is None else node.pos,
                                "" if node is None else str(node), detail))

    # --- variables ---
    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Any) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    def set_top_var(self, depth: int, value: Any) -> None:
        self.vars[-depth][1] = value

    def var_value(self, name: str) -> Any:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        self.errorf(f"undefined variable: {name}")

    # --- walking ---
    def run(self, dot: Any, root: n.ListNode) -> str:
        self.push("$", dot)
        try:
            self.walk(dot, root)
        except _Abort as abort:
            error = abort.args[0]
            assert isinstance(error, TemplateError)
            raise error from None
        except RecursionError:
            raise TemplateError(f"template: {self.exec_name}: exceeded maximum template depth ({MAX_EXEC_DEPTH})",
                                name=self.exec_name, position=None, during="execute",
                                go_message=f"template: {self.exec_name}: exceeded maximum template depth "
                                           f"({MAX_EXEC_DEPTH})") from None
        return "".join(self.out)

    def walk(self, dot: Any, node: n.Node) -> None:
        self.at(node)
        # Dispatch on the exact class with `type(node) is` each time: about as fast as comparing a saved
        # type(node) (CPython specialises the call), and the type checker narrows `node` by it.
        if type(node) is n.TextNode:
            self.out.append(node.text)
        elif type(node) is n.ActionNode:
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif type(node) is n.ListNode:
            for child in node.nodes:
                self.walk(dot, child)
        elif type(node) is n.IfNode or type(node) is n.WithNode:
            self.walk_if_or_with(type(node) is n.WithNode, dot, node)
        elif type(node) is n.RangeNode:
            self.walk_range(dot, node)
        elif type(node) is n.TemplateNode:
            self.walk_template(dot, node)
        elif type(node) is n.BreakNode:
            raise _Break
        elif type(node) is n.ContinueNode:
            raise _Continue
        else:
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Any, node: n.BranchNode) -> None:
        mark = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if truth(value):
                self.walk(value if is_with else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, node: n.RangeNode) -> None:
        self.at(node)
        outer = self.mark()
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = self.mark()
            k = kind(value)
            if k == "slice":
                pairs = list(enumerate(value))
            elif k == "map":
                pairs = sorted(value.items(), key=lambda kv: (0, kv[0], "") if isinstance(kv[0], (int, float))
                               else (1, 0, str(kv[0])))
            elif value is NO_VALUE or value is None:
                pairs = []
            else:
                self.errorf(f"range can't iterate over {sprint(value)}")
            decl = node.pipe.decl
            try:
                for index, elem in pairs:
                    if decl:
                        if node.pipe.is_assign:
                            self.set_var(decl[0].ident[0], index if len(decl) > 1 else elem)
                        else:
                            self.set_top_var(1, elem)
                    if len(decl) > 1:
                        if node.pipe.is_assign:
                            self.set_var(decl[1].ident[0], elem)
                        else:
                            self.set_top_var(2, index)
                    try:
                        self.walk(elem, node.body)
                    except _Continue:
                        pass
                    finally:
                        self.pop(mark)
            except _Break:
                return
            if not pairs and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Any, node: n.TemplateNode) -> None:
        self.at(node)
        tree = self.trees.get(node.name)
        if tree is None:
            self.errorf(f"template {quote(node.name)} not defined")
        if self.depth >= _PY_DEPTH:
            self.errorf(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else NO_VALUE
        saved = (self.vars, self.exec_name)
        self.vars, self.exec_name = [["$", dot]], node.name
        self.depth += 1
        try:
            self.walk(dot, tree)
        finally:
            self.vars, self.exec_name = saved
            self.depth -= 1

    def print_value(self, node: n.Node, value: Any) -> None:
        self.at(node)
        if value is NO_VALUE:
            self.out.append("<no value>")
        elif type(value) is str:
            self.out.append(value)
        elif kind(value) == "func":
            self.errorf(f"can't print {node} of type {go_type(value)}")
        else:
            self.out.append(sprint(value))

    # --- evaluation ---
    def eval_pipeline(self, dot: Any, pipe: n.PipeNode | None) -> Any:
        if pipe is None:
            return NO_VALUE
        self.at(pipe)
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:
                value = NO_VALUE  # an interface{} holding nil: Go digs into it and finds nothing
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.push(var.ident[0], value)
        return value

    def eval_command(self, dot: Any, cmd: n.CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if type(first) is n.FieldNode:
            self.at(first)
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if type(first) is n.IdentifierNode:
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if type(first) is n.VariableNode:
            return self.eval_variable(dot, first, cmd.args, final)
        if type(first) is n.ChainNode:
            return self.eval_chain(dot, first, cmd.args, final)
        if type(first) is n.PipeNode:
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if type(first) is n.BoolNode:
            return first.value
        if type(first) is n.DotNode:
            return dot
        if type(first) is n.NilNode:
            self.errorf("nil is not a command")
        if type(first) is n.NumberNode:
            return self.ideal_constant(first)
        if type(first) is n.StringNode:
            return first.text
        self.errorf(f"can't evaluate command {quote(str(first))}")

    def not_a_function(self, args: list[n.Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def ideal_constant(self, node: n.NumberNode) -> Any:
        self.at(node)
        text = node.text
        if node.is_complex:
            return node.complex_value
        if node.is_float and not text.lower().startswith(("0x", "-0x", "+0x")) and not text.startswith("'") \
                and any(c in text for c in ".eEpP"):
            return node.float_value
        if node.is_int:
            return node.int_value
        if node.is_uint:
            self.errorf(f"{text} overflows int")
        return NO_VALUE

    def eval_variable(self, dot: Any, node: n.VariableNode, args: list[n.Node] | None, final: Any) -> Any:
        self.at(node)
        value = self.var_value(node.ident[0])
        if len(node.ident) == 1:
            self.not_a_function(args or [node], final)
            return value
        return self.eval_field_chain(dot, value, node, node.ident[1:], args, final)

    def eval_chain(self, dot: Any, node: n.ChainNode, args: list[n.Node] | None, final: Any) -> Any:
        self.at(node)
        if isinstance(node.node, n.NilNode):
            self.errorf(f"indirection through explicit nil in {node}")
        receiver = self.eval_arg(dot, None, node.node)
        return self.eval_field_chain(dot, receiver, node, node.fields, args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: n.Node, ident: list[str],
                         args: list[n.Node] | None, final: Any) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: n.Node, args: list[n.Node] | None, final: Any,
                   receiver: Any) -> Any:
        if receiver is NO_VALUE:
            return NO_VALUE
        if receiver is None:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        k = kind(receiver)
        if k == "map":
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            return "" if is_string_map(receiver) else NO_VALUE  # missingkey=zero
        method = getattr(receiver, "go_methods", {}).get(name)
        if method is not None:
            return self.eval_call(dot, method, node, name, args, final)
        if k in ("struct", "ptr") and name[:1].isupper() and hasattr(receiver, name):
            if has_args:
                self.errorf(f"{name} has arguments but cannot be invoked as function")
            return getattr(receiver, name)
        self.errorf(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_function(self, dot: Any, node: n.IdentifierNode, cmd: n.Node, args: list[n.Node] | None,
                      final: Any) -> Any:
        self.at(node)
        func = self.funcs.get(node.ident)
        if func is None:
            self.errorf(f"{quote(node.ident)} is not a defined function")
        return self.eval_call(dot, func, cmd, node.ident, args, final)

    def eval_call(self, dot: Any, func: Func, node: n.Node, name: str, args: list[n.Node] | None,
                  final: Any) -> Any:
        args = args[1:] if args is not None else []
        num_in = len(args) + (final is not _MISSING)
        num_params = len(func.params) + (func.variadic is not None)
        if func.variadic is not None:
            if num_in < len(func.params):
                self.errorf(f"wrong number of args for {name}: want at least {len(func.params)} got {len(args)}")
        elif num_in != num_params:
            self.errorf(f"wrong number of args for {name}: want {num_params} got {num_in}")
        if func.short_circuit:
            value: Any = NO_VALUE
            for arg in args:
                value = self.eval_arg(dot, VALUE, arg)
                if truth(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate_type(final, VALUE)
            return value
        argv = [self.eval_arg(dot, func.param_type(i, num_in), arg) for i, arg in enumerate(args)]
        if final is not _MISSING:
            argv.append(self.validate_type(final, func.param_type(len(args), num_in)))
        try:
            return func.fn(*argv)
        except GoError as error:
            self.at(node)
            self.errorf(f"error calling {name}: {error}")
        except _Abort:
            raise
        except Exception as error:  # a caller's function failing: Go recovers panics the same way
            self.at(node)
            self.errorf(f"error calling {name}: {error}")

    def eval_arg(self, dot: Any, typ: str | None, node: n.Node) -> Any:
        self.at(node)
        if type(node) is n.DotNode:
            return self.validate_type(dot, typ)
        if type(node) is n.NilNode:
            if typ in (None, ANY, VALUE) or typ.startswith(("*", "map[", "[]", "template.queryResult")):
                return None
            self.errorf(f"cannot assign nil to {typ}")
        if type(node) is n.FieldNode:
            return self.validate_type(self.eval_field_chain(dot, dot, node, node.ident, [node], _MISSING), typ)
        if type(node) is n.VariableNode:
            return self.validate_type(self.eval_variable(dot, node, None, _MISSING), typ)
        if type(node) is n.PipeNode:
            return self.validate_type(self.eval_pipeline(dot, node), typ)
        if type(node) is n.IdentifierNode:
            return self.validate_type(self.eval_function(dot, node, node, None, _MISSING), typ)
        if type(node) is n.ChainNode:
            return self.validate_type(self.eval_chain(dot, node, None, _MISSING), typ)
        if typ == BOOL:
            if type(node) is n.BoolNode:
                return node.value
            self.errorf(f"expected bool; found {node}")
        if typ == STRING:
            if type(node) is n.StringNode:
                return node.text
            self.errorf(f"expected string; found {node}")
        if typ == INT:
            if type(node) is n.NumberNode and node.is_int:
                return node.int_value
            self.errorf(f"expected integer; found {node}")
        if typ == FLOAT64:
            if type(node) is n.NumberNode and node.is_float:
                return node.float_value
            self.errorf(f"expected float; found {node}")
        if typ in (ANY, VALUE, None):
            if type(node) is n.BoolNode:
                return node.value
            if type(node) is n.NumberNode:
                return self.ideal_constant(node)
            if type(node) is n.StringNode:
                return node.text
        self.errorf(f"can't handle {node} for arg of type {typ}")

    def validate_type(self, value: Any, typ: str | None) -> Any:
        if value is NO_VALUE or value is None:
            if typ in (None, ANY, VALUE):
                return NO_VALUE if typ == VALUE else None
            if typ.startswith(("*", "map[", "[]", "template.queryResult")):
                return None
            self.errorf(f"invalid value; expected {typ}")
        if typ in (None, ANY, VALUE):
            return value
        actual = go_type(value)
        if actual == typ or (typ == "map[string]interface {}" and isinstance(value, AnyMap)):
            return value
        self.errorf(f"wrong type for value; expected {typ}; got {actual}")
