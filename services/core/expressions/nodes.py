"""AST node classes (plain slotted objects; evaluation lives in interpreter.py)."""

from __future__ import annotations

from typing import Any


class Node:
    """Base node: ``column`` is 1-based in the expression, ``depth`` is the subtree height."""

    __slots__ = ("column", "depth")
    column: int
    depth: int

    def __init__(self, column: int, *children: Node) -> None:
        self.column = column
        self.depth = 1 + max((c.depth for c in children), default=0)


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, column: int, value: Any) -> None:
        super().__init__(column)
        self.value = value


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, column: int, name: str) -> None:
        super().__init__(column)
        self.name = name


class Member(Node):
    """``obj.key`` / ``obj?.key`` with a static key."""

    __slots__ = ("key", "obj", "optional")

    def __init__(self, column: int, obj: Node, key: str, optional: bool) -> None:
        super().__init__(column, obj)
        self.obj, self.key, self.optional = obj, key, optional


class Index(Node):
    """``obj[index]`` / ``obj?.[index]``."""

    __slots__ = ("index", "obj", "optional")

    def __init__(self, column: int, obj: Node, index: Node, optional: bool) -> None:
        super().__init__(column, obj, index)
        self.obj, self.index, self.optional = obj, index, optional


class ArrayLit(Node):
    __slots__ = ("items",)

    def __init__(self, column: int, items: list[Node]) -> None:
        super().__init__(column, *items)
        self.items = items


class ObjectLit(Node):
    __slots__ = ("pairs",)

    def __init__(self, column: int, pairs: list[tuple[str, Node]]) -> None:
        super().__init__(column, *(v for _, v in pairs))
        self.pairs = pairs


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, column: int, op: str, operand: Node) -> None:
        super().__init__(column, operand)
        self.op, self.operand = op, operand


class Binary(Node):
    """Arithmetic, comparison and equality operators (``column`` is the operator's)."""

    __slots__ = ("left", "op", "right")

    def __init__(self, column: int, op: str, left: Node, right: Node) -> None:
        super().__init__(column, left, right)
        self.op, self.left, self.right = op, left, right


class Logical(Node):
    """Short-circuit ``&&``, ``||`` and ``??``."""

    __slots__ = ("left", "op", "right")

    def __init__(self, column: int, op: str, left: Node, right: Node) -> None:
        super().__init__(column, left, right)
        self.op, self.left, self.right = op, left, right


class Conditional(Node):
    __slots__ = ("other", "test", "then")

    def __init__(self, column: int, test: Node, then: Node, other: Node) -> None:
        super().__init__(column, test, then, other)
        self.test, self.then, self.other = test, then, other


class HelperCall(Node):
    """``name(args)`` where ``name`` is one of the helpers."""

    __slots__ = ("args", "name")

    def __init__(self, column: int, name: str, args: list[Node]) -> None:
        super().__init__(column, *args)
        self.name, self.args = name, args


class MethodCall(Node):
    """``receiver.name(args)`` for a handful of JS string/array methods."""

    __slots__ = ("args", "name", "optional", "receiver")

    def __init__(
        self, column: int, receiver: Node, name: str, args: list[Node], optional: bool
    ) -> None:
        super().__init__(column, receiver, *args)
        self.receiver, self.name, self.args, self.optional = receiver, name, args, optional
