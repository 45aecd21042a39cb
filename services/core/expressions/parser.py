"""Pratt parser: tokens -> AST, with depth limits checked before Python would recurse too far."""

from __future__ import annotations

from typing import Final

from .errors import ExpressionLimitError, ExpressionSyntaxError
from .helpers import HELPER_TABLE, HELPERS, METHOD_TABLE, METHODS
from .lexer import EOF, NAME, NUM, OP, STR, Token, tokenize
from .limits import Limits
from .nodes import (
    ArrayLit,
    Binary,
    Conditional,
    HelperCall,
    Index,
    Literal,
    Logical,
    Member,
    MethodCall,
    Name,
    Node,
    ObjectLit,
    Unary,
)
from .values import UNDEFINED, format_number

_BINARY_POWER: Final = {
    "??": 3, "||": 3, "&&": 4,
    "==": 8, "!=": 8, "===": 8, "!==": 8,
    "<": 9, "<=": 9, ">": 9, ">=": 9,
    "+": 11, "-": 11, "*": 12, "/": 12, "%": 12,
}  # fmt: skip
_TERNARY_POWER: Final = 2
_COMPARISONS: Final = frozenset({"==", "!=", "===", "!==", "<", "<=", ">", ">="})
_LOGICAL: Final = frozenset({"&&", "||", "??"})
_CONSTANTS: Final = {
    "true": True,
    "false": False,
    "null": None,
    "undefined": UNDEFINED,
    "NaN": float("nan"),
    "Infinity": float("inf"),
}
_RESERVED: Final = frozenset(
    {"new", "function", "this", "delete", "void", "in", "instanceof", "var", "let", "const"}
    | {"return", "class", "await", "yield", "import", "export", "typeof", "async", "if"}
    | {"else", "for", "while", "do", "switch", "case", "throw", "try", "catch"}
)
_FORBIDDEN_MEMBERS: Final = frozenset({"constructor", "prototype", "__proto__"})
CALLS_MESSAGE: Final = (
    f"calls are limited to the helpers: {', '.join(HELPERS)}; and the methods: {', '.join(METHODS)}"
)


def check_member_name(name: str) -> str | None:
    """The refusal message for a member name, or None when it is allowed."""
    if name.startswith("__") or name in _FORBIDDEN_MEMBERS:
        return f"member {name!r} is not allowed"
    return None


def parse_ast(source: str, limits: Limits) -> Node:
    """Parse ``source`` into an AST; errors carry 1-based columns into ``source``."""
    if len(source) > limits.max_source_length:
        raise ExpressionLimitError(
            f"expression is longer than {limits.max_source_length} characters", 1, source
        )
    return _Parser(source, limits).parse()


class _Parser:
    def __init__(self, source: str, limits: Limits) -> None:
        self.src = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.max_depth = limits.max_depth
        self.nesting = 0
        self.parens: set[int] = set()

    def parse(self) -> Node:
        node = self.pipeline()
        tok = self.tokens[self.pos]
        if tok.kind != EOF:
            raise self.unexpected(tok)
        return node

    # -- helpers -------------------------------------------------------------
    def error(self, message: str, column: int) -> ExpressionSyntaxError:
        return ExpressionSyntaxError(message, column, self.src)

    def unexpected(self, tok: Token) -> ExpressionSyntaxError:
        if tok.kind == EOF:
            return self.error("unexpected end of expression", tok.column)
        return self.error(f"unexpected token {tok.text!r}", tok.column)

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at(self, op: str) -> bool:
        tok = self.tokens[self.pos]
        return tok.kind == OP and tok.value == op

    def expect(self, op: str) -> Token:
        tok = self.next()
        if tok.kind != OP or tok.value != op:
            if tok.kind == EOF:
                raise self.error(f"expected {op!r} but the expression ended", tok.column)
            raise self.error(f"expected {op!r} but found {tok.text!r}", tok.column)
        return tok

    def enter(self, column: int) -> None:
        self.nesting += 1
        if self.nesting > self.max_depth:
            raise ExpressionLimitError(
                f"expression is nested deeper than {self.max_depth} levels", column, self.src
            )

    def check(self, node: Node) -> Node:
        if node.depth > self.max_depth:
            raise ExpressionLimitError(
                f"expression is nested deeper than {self.max_depth} levels", node.column, self.src
            )
        return node

    # -- grammar -------------------------------------------------------------
    def expr(self, min_power: int) -> Node:
        self.enter(self.tokens[self.pos].column)
        left = self.unary()
        while True:
            tok = self.tokens[self.pos]
            if tok.kind != OP:
                break
            op = tok.value
            if op == "?" and min_power < _TERNARY_POWER:
                self.pos += 1
                then = self.expr(0)
                self.expect(":")
                other = self.expr(_TERNARY_POWER - 1)
                left = self.check(Conditional(tok.column, left, then, other))
                continue
            power = _BINARY_POWER.get(op)
            if power is None or power <= min_power:
                break
            self.pos += 1
            right = self.expr(power)
            if op in _LOGICAL:
                self.check_coalesce_mix(op, left, right, tok.column)
                left = self.check(Logical(tok.column, op, left, right))
            else:
                if op in _COMPARISONS:
                    self.check_chain(op, left, right, tok.column)
                left = self.check(Binary(tok.column, op, left, right))
        self.nesting -= 1
        return left

    def pipeline(self) -> Node:
        """``expr | filter | filter: arg, arg``: each filter is a helper given the value first."""
        node = self.expr(0)
        while self.at("|"):
            bar = self.next()
            name_tok = self.next()
            if name_tok.kind != NAME:
                raise self.error("expected a filter name after '|'", bar.column)
            name = str(name_tok.value)
            if name not in HELPER_TABLE:
                raise self.error(
                    f"'{name}' is not a filter; filters are the helpers: {', '.join(HELPERS)}",
                    name_tok.column,
                )
            args = [node]
            if self.at(":"):
                self.pos += 1
                args.append(self.expr(0))
                while self.at(","):
                    self.pos += 1
                    args.append(self.expr(0))
            _, low, high = HELPER_TABLE[name]
            self.check_arity(name, len(args), low, high, name_tok.column)
            node = self.check(HelperCall(name_tok.column, name, args))
        return node

    def check_chain(self, op: str, left: Node, right: Node, column: int) -> None:
        """Refuse ``a < b < c`` and ``a === b == c``: JavaScript compares the boolean of the
        first comparison with ``c``, which is almost never what was meant."""
        for side in (left, right):
            if isinstance(side, Binary) and side.op in _COMPARISONS and id(side) not in self.parens:
                raise self.error(
                    f"chained comparison: JavaScript would compare the true/false of "
                    f"'{side.op}' with the other side of '{op}'; write 'a < b && b < c', "
                    "or add parentheses to compare the boolean",
                    column,
                )

    def check_coalesce_mix(self, op: str, left: Node, right: Node, column: int) -> None:
        for side in (left, right):
            mixed = isinstance(side, Logical) and (op == "??") != (side.op == "??")
            if mixed and id(side) not in self.parens:
                raise self.error("cannot mix '??' with '||' or '&&' without parentheses", column)

    def unary(self) -> Node:
        tok = self.tokens[self.pos]
        if (tok.kind == OP and tok.value in ("!", "-", "+")) or (
            tok.kind == NAME and tok.value == "typeof"
        ):
            self.pos += 1
            self.enter(tok.column)
            operand = self.unary()
            self.nesting -= 1
            return self.check(Unary(tok.column, tok.value, operand))
        return self.postfix(self.primary())

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind == NUM or tok.kind == STR:
            return Literal(tok.column, tok.value)
        if tok.kind == NAME:
            return self.name(tok)
        if tok.kind == OP:
            if tok.value == "(":
                node = self.pipeline()
                self.expect(")")
                self.parens.add(id(node))
                return node
            if tok.value == "[":
                return self.check(ArrayLit(tok.column, self.items("]")))
            if tok.value == "{":
                return self.check(self.object(tok))
        raise self.unexpected(tok)

    def name(self, tok: Token) -> Node:
        name: str = tok.value
        if name in _CONSTANTS:
            return Literal(tok.column, _CONSTANTS[name])
        if name.startswith("__"):
            raise self.error(
                f"name {name!r} is not allowed: names starting with '__' are refused", tok.column
            )
        if name in _RESERVED:
            raise self.error(f"{name!r} is not supported in expressions", tok.column)
        return Name(tok.column, name)

    def items(self, close: str) -> list[Node]:
        self.enter(self.tokens[self.pos - 1].column)
        items: list[Node] = []
        while not self.at(close):
            items.append(self.expr(0))
            if not self.at(close):
                self.expect(",")
        self.pos += 1
        self.nesting -= 1
        return items

    def object(self, open_tok: Token) -> ObjectLit:
        self.enter(open_tok.column)
        pairs: list[tuple[str, Node]] = []
        while not self.at("}"):
            tok = self.next()
            if tok.kind == NAME or tok.kind == STR:
                key = str(tok.value)
            elif tok.kind == NUM:
                key = format_number(tok.value)
            else:
                raise self.unexpected(tok)
            refusal = check_member_name(key)
            if refusal:
                raise self.error(refusal, tok.column)
            if tok.kind == NAME and (self.at(",") or self.at("}")):
                value = self.name(tok)  # shorthand {a}
            else:
                self.expect(":")
                value = self.expr(0)
            pairs.append((key, value))
            if not self.at("}"):
                self.expect(",")
        self.pos += 1
        self.nesting -= 1
        return ObjectLit(open_tok.column, pairs)

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.tokens[self.pos]
            if tok.kind != OP or tok.value not in (".", "?.", "[", "("):
                return node
            self.pos += 1
            optional = tok.value == "?."
            if tok.value == "(":
                node = self.call(node, tok)
            elif tok.value == "[" or (optional and self.at("[")):
                if optional:
                    self.pos += 1
                index = self.expr(0)
                self.expect("]")
                if isinstance(index, Literal) and isinstance(index.value, str):
                    refusal = check_member_name(index.value)
                    if refusal:
                        raise self.error(refusal, index.column)
                node = Index(tok.column, node, index, optional)
            elif optional and self.at("("):
                raise self.error("optional calls '?.()' are not supported", tok.column)
            else:
                name_tok = self.next()
                if name_tok.kind != NAME:
                    raise self.error(f"expected a property name after {tok.value!r}", tok.column)
                refusal = check_member_name(name_tok.value)
                if refusal:
                    raise self.error(refusal, name_tok.column)
                node = Member(name_tok.column, node, name_tok.value, optional)
            self.check(node)

    def call(self, callee: Node, paren: Token) -> Node:
        parenthesized = id(callee) in self.parens
        if isinstance(callee, Name) and not parenthesized and callee.name in HELPER_TABLE:
            args = self.items(")")
            _, low, high = HELPER_TABLE[callee.name]
            self.check_arity(callee.name, len(args), low, high, callee.column)
            return HelperCall(callee.column, callee.name, args)
        if isinstance(callee, Member) and not parenthesized and callee.key in METHOD_TABLE:
            args = self.items(")")
            _, low, high = HELPER_TABLE[METHOD_TABLE[callee.key]]
            self.check_arity(callee.key, len(args), low - 1, high and high - 1, callee.column)
            return MethodCall(callee.column, callee.obj, callee.key, args, callee.optional)
        if isinstance(callee, Name) and not parenthesized:
            raise self.error(f"{callee.name!r} is not a helper; {CALLS_MESSAGE}", callee.column)
        raise self.error(CALLS_MESSAGE, paren.column)

    def check_arity(self, name: str, count: int, low: int, high: int | None, column: int) -> None:
        if count < low or (high is not None and count > high):
            expected = str(low) if low == high else f"{low}+" if high is None else f"{low}-{high}"
            noun = "argument" if expected == "1" else "arguments"
            raise self.error(f"{name}() takes {expected} {noun}, got {count}", column)
