"""Tree-walking evaluator with a per-node-type dispatch table."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import ExpressionEvaluationError, ExpressionLimitError
from .helpers import HELPER_TABLE, METHOD_TABLE, HelperError
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
from .parser import check_member_name
from .values import (
    UNDEFINED,
    is_nullish,
    is_number,
    js_compare,
    kind,
    loose_equals,
    norm_number,
    strict_equals,
    to_js_string,
    truthy,
    typeof,
)


class State:
    """Per-evaluation bookkeeping: the context, the limits and the step counter."""

    __slots__ = ("context", "limits", "source", "steps")

    def __init__(self, context: Mapping[str, Any], limits: Limits, source: str) -> None:
        self.context = context
        self.limits = limits
        self.source = source
        self.steps = 0


def evaluate_node(node: Node, st: State) -> Any:
    st.steps += 1
    if st.steps > st.limits.max_steps:
        raise ExpressionLimitError(
            f"evaluation took more than {st.limits.max_steps} steps", node.column, st.source
        )
    return _DISPATCH[node.__class__](node, st)


def _fail(message: str, node: Node, st: State) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(message, node.column, st.source)


def _sized(value: Any, node: Node, st: State) -> Any:
    """Enforce the result size limits on strings and arrays."""
    if isinstance(value, str):
        if len(value) > st.limits.max_string_length:
            raise ExpressionLimitError(
                f"string result longer than {st.limits.max_string_length} characters",
                node.column,
                st.source,
            )
    elif isinstance(value, list) and len(value) > st.limits.max_array_items:
        raise ExpressionLimitError(
            f"array result longer than {st.limits.max_array_items} items", node.column, st.source
        )
    return value


def _literal(node: Literal, st: State) -> Any:
    return node.value


def _name(node: Name, st: State) -> Any:
    return st.context.get(node.name, UNDEFINED)


def get_member(obj: Any, key: Any) -> Any:
    """JS property read, lenient: reading from undefined/null/scalars gives undefined."""
    if isinstance(obj, Mapping):
        return obj.get(key if isinstance(key, str) else to_js_string(key), UNDEFINED)
    if isinstance(obj, list | tuple | str):
        if key == "length":
            return len(obj)
        if isinstance(key, str):
            if not key.isdigit() or (key != "0" and key[0] == "0") or not key.isascii():
                return UNDEFINED
            key = int(key)
        if is_number(key) and key == key and not math.isinf(key) and key == int(key):
            index = int(key)
            if 0 <= index < len(obj):
                return obj[index]
    return UNDEFINED


def _member(node: Member, st: State) -> Any:
    return get_member(evaluate_node(node.obj, st), node.key)


def _index(node: Index, st: State) -> Any:
    obj = evaluate_node(node.obj, st)
    key = evaluate_node(node.index, st)
    if isinstance(key, str):
        refusal = check_member_name(key)
        if refusal:
            raise ExpressionEvaluationError(refusal, node.index.column, st.source)
    return get_member(obj, key)


def _array(node: ArrayLit, st: State) -> Any:
    return _sized([evaluate_node(item, st) for item in node.items], node, st)


def _object(node: ObjectLit, st: State) -> Any:
    return {key: evaluate_node(value, st) for key, value in node.pairs}


def _unary(node: Unary, st: State) -> Any:
    value = evaluate_node(node.operand, st)
    op = node.op
    if op == "!":
        return not truthy(value)
    if op == "typeof":
        return typeof(value)
    if not is_number(value):
        raise _fail(f"unary {op!r} needs a number, got {kind(value)}", node, st)
    if op == "-":
        return -0.0 if value == 0 and not math.copysign(1.0, value) < 0 else norm_number(-value)
    return norm_number(value)


def _add(a: Any, b: Any, node: Binary, st: State) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        return _sized(to_js_string(a) + to_js_string(b), node, st)
    if is_number(a) and is_number(b):
        return norm_number(norm_number(a) + norm_number(b))
    raise _fail(f"'+' needs two numbers or a string, got {kind(a)} and {kind(b)}", node, st)


def _div(a: int | float, b: int | float) -> int | float:
    if b == 0:
        if a == 0 or a != a:
            return math.nan
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if negative else math.inf
    return norm_number(a / b)


def _mod(a: int | float, b: int | float) -> int | float:
    if b == 0 or a != a or b != b or math.isinf(a):
        return math.nan
    if math.isinf(b):
        return a
    if isinstance(a, int) and isinstance(b, int):
        result = abs(a) % abs(b)
        return -result if a < 0 else result
    return norm_number(math.fmod(a, b))


_ARITHMETIC: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "-": lambda a, b: norm_number(a - b),
    "*": lambda a, b: norm_number(a * b),
    "/": _div,
    "%": _mod,
}
_COMPARE: Final = frozenset({"<", "<=", ">", ">="})


def _binary(node: Binary, st: State) -> Any:
    a = evaluate_node(node.left, st)
    b = evaluate_node(node.right, st)
    op = node.op
    if op == "===":
        return strict_equals(a, b)
    if op == "!==":
        return not strict_equals(a, b)
    if op == "==":
        return loose_equals(a, b)
    if op == "!=":
        return not loose_equals(a, b)
    if op == "+":
        return _add(a, b, node, st)
    if op in _COMPARE:
        return js_compare(op, a, b)
    if not (is_number(a) and is_number(b)):
        raise _fail(f"{op!r} needs two numbers, got {kind(a)} and {kind(b)}", node, st)
    return _ARITHMETIC[op](norm_number(a), norm_number(b))


def _logical(node: Logical, st: State) -> Any:
    left = evaluate_node(node.left, st)
    if node.op == "&&":
        return evaluate_node(node.right, st) if truthy(left) else left
    if node.op == "||":
        return left if truthy(left) else evaluate_node(node.right, st)
    return evaluate_node(node.right, st) if is_nullish(left) else left


def _conditional(node: Conditional, st: State) -> Any:
    branch = node.then if truthy(evaluate_node(node.test, st)) else node.other
    return evaluate_node(branch, st)


def _call(name: str, args: list[Any], node: Node, st: State) -> Any:
    fn = HELPER_TABLE[name][0]
    try:
        result = fn(*args)
    except HelperError as exc:
        raise _fail(str(exc), node, st) from None
    return _sized(result, node, st)


def _helper_call(node: HelperCall, st: State) -> Any:
    return _call(node.name, [evaluate_node(a, st) for a in node.args], node, st)


def _method_call(node: MethodCall, st: State) -> Any:
    receiver = evaluate_node(node.receiver, st)
    if is_nullish(receiver):
        return UNDEFINED  # lenient, as if every call were optional (?.)
    expected = "array" if node.name == "join" else "string"
    if node.name == "includes":
        expected = "array" if isinstance(receiver, list | tuple) else "string"
    if kind(receiver) != expected:
        raise _fail(f"{node.name}() is not a method of {kind(receiver)}", node, st)
    args = [receiver, *(evaluate_node(a, st) for a in node.args)]
    return _call(METHOD_TABLE[node.name], args, node, st)


_DISPATCH: Final[dict[type[Node], Callable[[Any, State], Any]]] = {
    Literal: _literal,
    Name: _name,
    Member: _member,
    Index: _index,
    ArrayLit: _array,
    ObjectLit: _object,
    Unary: _unary,
    Binary: _binary,
    Logical: _logical,
    Conditional: _conditional,
    HelperCall: _helper_call,
    MethodCall: _method_call,
}
