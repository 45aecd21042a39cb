"""``Expression``: parse once, evaluate many times; plus data-path references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ExpressionError, ExpressionLimitError
from .interpreter import State, evaluate_node
from .limits import DEFAULT_LIMITS, Limits
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
from .parser import parse_ast

Path = tuple[str, ...]


class Expression:
    """A parsed expression. ``offset``/``origin`` place it inside a larger string (templates)."""

    __slots__ = ("_refs", "limits", "node", "offset", "origin", "source")

    def __init__(
        self, source: str, node: Node, limits: Limits, offset: int = 0, origin: str | None = None
    ) -> None:
        self.source = source
        self.node = node
        self.limits = limits
        self.offset = offset
        self.origin = source if origin is None else origin
        self._refs: frozenset[Path] | None = None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against ``context`` (root names -> JSON-like values)."""
        try:
            return evaluate_node(self.node, State(context, self.limits, self.source))
        except ExpressionError as exc:
            if self.offset or self.origin is not self.source:
                raise exc.shifted(self.offset, self.origin) from None
            raise
        except RecursionError:
            raise ExpressionLimitError("value nested too deeply", 0, self.origin) from None

    def references(self) -> set[Path]:
        """The data paths read, e.g. ``input.plan`` -> ``("input", "plan")``."""
        if self._refs is None:
            found: set[Path] = set()
            _collect(self.node, found)
            self._refs = frozenset(found)
        return set(self._refs)


def parse(
    source: str, *, limits: Limits = DEFAULT_LIMITS, offset: int = 0, origin: str | None = None
) -> Expression:
    """Parse ``source``; errors are shifted by ``offset`` columns into ``origin`` when given."""
    try:
        node = parse_ast(source, limits)
    except ExpressionError as exc:
        if offset or origin is not None:
            raise exc.shifted(offset, source if origin is None else origin) from None
        raise
    except RecursionError:
        raise ExpressionLimitError("expression nested too deeply", 1, source) from None
    return Expression(source, node, limits, offset, origin)


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Parse and evaluate in one go (prefer ``parse`` once + ``evaluate`` many)."""
    return parse(source).evaluate(context)


def references(expression: Expression | str) -> set[Path]:
    """The data paths an expression (or expression source) reads."""
    expr = parse(expression) if isinstance(expression, str) else expression
    return expr.references()


def _path(node: Node) -> Path | None:
    """The static path of a Name/Member/literal-Index chain, or None."""
    parts: list[str] = []
    while True:
        if isinstance(node, Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        if isinstance(node, Member):
            parts.append(node.key)
            node = node.obj
        elif isinstance(node, Index) and isinstance(node.index, Literal):
            value = node.index.value
            if not isinstance(value, str | int) or isinstance(value, bool):
                return None
            parts.append(str(value))
            node = node.obj
        else:
            return None


def _collect(node: Node, found: set[Path]) -> None:
    path = _path(node)
    if path is not None:
        found.add(path)
        return
    children: list[Node]
    if isinstance(node, Member):
        children = [node.obj]
    elif isinstance(node, Index):
        children = [node.obj, node.index]
    elif isinstance(node, ArrayLit):
        children = node.items
    elif isinstance(node, ObjectLit):
        children = [v for _, v in node.pairs]
    elif isinstance(node, Unary):
        children = [node.operand]
    elif isinstance(node, Binary | Logical):
        children = [node.left, node.right]
    elif isinstance(node, Conditional):
        children = [node.test, node.then, node.other]
    elif isinstance(node, HelperCall):
        children = node.args
    elif isinstance(node, MethodCall):
        children = [node.receiver, *node.args]
    else:
        children = []
    for child in children:
        _collect(child, found)
