"""Templates: JSON-like values whose strings may contain ``{{ expression }}`` segments.

A string that is exactly one ``{{expr}}`` keeps the value's type; otherwise the segments
are interpolated into a string (undefined/null -> "", objects/arrays -> JSON). Object keys
are literal; object values that render to undefined are dropped (like ``JSON.stringify``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows.services.core.expressions import (
    UNDEFINED,
    Expression,
    ExpressionError,
    Path,
    parse,
    to_js_string,
    to_json_string,
)
from workflows.services.core.expressions.limits import MAX_STRING_LENGTH
from workflows.services.core.expressions.nodes import (
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

__all__ = [
    "Template",
    "TemplateError",
    "compile_template",
    "is_template",
    "parse_condition",
    "render_template",
]


class TemplateError(ExpressionError):
    """A template problem; ``column`` is 1-based within the template string."""


def is_template(value: Any) -> bool:
    """True when ``value`` is a string containing a ``{{`` segment."""
    return isinstance(value, str) and "{{" in value


def _find_close(text: str, start: int) -> int:
    """Index of the ``}}`` closing the segment whose expression starts at ``start``, or -1."""
    depth, i, n = 0, start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or ch == "'":
            i += 1
            while i < n and text[i] != ch:
                i += 2 if text[i] == "\\" else 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0 and text.startswith("}}", i):
                return i
            depth = max(depth - 1, 0)
        i += 1
    return -1


STEPS_ROOT = "steps"


def _alias(node: Node) -> Node:
    """``steps.<id>`` and ``steps["<id>"]`` read ``<id>``: rewritten once, at parse time, so
    references and dependencies see the step id itself."""
    if isinstance(node, Member) and isinstance(node.obj, Name) and node.obj.name == STEPS_ROOT:
        return Name(node.column, node.key)
    if (
        isinstance(node, Index)
        and isinstance(node.obj, Name)
        and node.obj.name == STEPS_ROOT
        and isinstance(node.index, Literal)
        and isinstance(node.index.value, str)
    ):
        return Name(node.column, node.index.value)
    if isinstance(node, Member):
        node.obj = _alias(node.obj)
    elif isinstance(node, Index):
        node.obj, node.index = _alias(node.obj), _alias(node.index)
    elif isinstance(node, ArrayLit):
        node.items = [_alias(item) for item in node.items]
    elif isinstance(node, ObjectLit):
        node.pairs = [(key, _alias(value)) for key, value in node.pairs]
    elif isinstance(node, Unary):
        node.operand = _alias(node.operand)
    elif isinstance(node, Binary | Logical):
        node.left, node.right = _alias(node.left), _alias(node.right)
    elif isinstance(node, Conditional):
        node.test, node.then, node.other = _alias(node.test), _alias(node.then), _alias(node.other)
    elif isinstance(node, HelperCall):
        node.args = [_alias(arg) for arg in node.args]
    elif isinstance(node, MethodCall):
        node.receiver = _alias(node.receiver)
        node.args = [_alias(arg) for arg in node.args]
    return node


def _workflow_expression(expression: Expression) -> Expression:
    expression.node = _alias(expression.node)
    return expression


def _split(text: str) -> list[str | Expression]:
    """Literal pieces and parsed expressions, with error columns relative to ``text``."""
    parts: list[str | Expression] = []
    pos = 0
    while True:
        open_at = text.find("{{", pos)
        if open_at < 0:
            break
        close_at = _find_close(text, open_at + 2)
        if close_at < 0:
            raise TemplateError("unclosed '{{'", open_at + 1, text)
        if open_at > pos:
            parts.append(text[pos:open_at])
        start = open_at + 2
        try:
            parts.append(
                _workflow_expression(parse(text[start:close_at], offset=start, origin=text))
            )
        except ExpressionError as exc:
            raise TemplateError(exc.message, exc.column, text) from exc
        pos = close_at + 2
    if pos < len(text):
        parts.append(text[pos:])
    return parts


def _render_str(parts: list[str | Expression], context: Mapping[str, Any]) -> Any:
    if len(parts) == 1 and isinstance(parts[0], Expression):
        return _evaluate(parts[0], context)
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = _evaluate(part, context)
        if value is None or value is UNDEFINED:
            continue
        out.append(
            to_json_string(value)
            if isinstance(value, Mapping | list | tuple)
            else to_js_string(value)
        )
    result = "".join(out)
    if len(result) > MAX_STRING_LENGTH:
        raise TemplateError(f"rendered string longer than {MAX_STRING_LENGTH} characters")
    return result


def _evaluate(expr: Expression, context: Mapping[str, Any]) -> Any:
    try:
        return expr.evaluate(context)
    except ExpressionError as exc:
        raise TemplateError(exc.message, exc.column, exc.source) from exc


def _compile(value: Any) -> Any:
    """Compile to a tree of: ('c', const), ('s', parts), ('l', items), ('d', pairs)."""
    if isinstance(value, str):
        return ("s", _split(value)) if "{{" in value else ("c", value)
    if isinstance(value, Mapping):
        return ("d", [(key, _compile(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return ("l", [_compile(item) for item in value])
    return ("c", value)


def _render(node: Any, context: Mapping[str, Any]) -> Any:
    tag, body = node
    if tag == "c":
        return body
    if tag == "s":
        return _render_str(body, context)
    if tag == "l":
        return [_render(item, context) for item in body]
    rendered = {}
    for key, item in body:
        value = _render(item, context)
        if value is not UNDEFINED:
            rendered[key] = value
    return rendered


def _references(node: Any, found: set[Path]) -> None:
    tag, body = node
    if tag == "s":
        for part in body:
            if isinstance(part, Expression):
                found |= part.references()
    elif tag == "l":
        for item in body:
            _references(item, found)
    elif tag == "d":
        for _, item in body:
            _references(item, found)


class Template:
    """A compiled template; build with :func:`compile_template`, then :meth:`render` often."""

    __slots__ = ("_tree", "source")

    def __init__(self, source: Any) -> None:
        self.source = source
        self._tree = _compile(source)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    @property
    def is_constant(self) -> bool:
        """True when the template holds no ``{{ }}`` segment at all."""
        return not _has_expression(self._tree)

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render against ``context``; may return UNDEFINED for a lone ``{{missing}}``."""
        return _render(self._tree, context)

    def references(self) -> set[Path]:
        """All data paths read by the template's expressions."""
        found: set[Path] = set()
        _references(self._tree, found)
        return found


def _has_expression(node: Any) -> bool:
    tag, body = node
    if tag == "s":
        return True
    if tag == "l":
        return any(_has_expression(item) for item in body)
    return tag == "d" and any(_has_expression(item) for _, item in body)


def compile_template(value: Any) -> Template:
    """Parse every ``{{ }}`` segment in ``value`` once."""
    return Template(value)


def render_template(value: Any, context: Mapping[str, Any]) -> Any:
    """Compile and render in one go."""
    return Template(value).render(context)


def parse_condition(text: str) -> Expression:
    """A condition written as ``'{{expr}}'`` or as a bare expression.

    Error columns (at parse and evaluation time) refer to positions in ``text``.
    """
    if "{{" not in text:
        return _workflow_expression(parse(text))
    parts = [p for p in _split(text) if not (isinstance(p, str) and p.isspace())]
    if len(parts) != 1 or not isinstance(parts[0], Expression):
        raise TemplateError(
            "a condition must be a single '{{ expression }}' or a bare expression", 1, text
        )
    return parts[0]
