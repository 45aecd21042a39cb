"""Hostile request bodies stopped at the edge, before any route reads them (issue 20).

`BodyGuard` is an ASGI middleware in front of every route:

- a path holding a NUL byte (`%00`) is a 400 for every route (the dashboard's files too);
- a body larger than `max_body` is refused with 413 before it is read whole (from the
  `Content-Length` header, or while a chunked body streams in);
- a JSON body is parsed once here with `parse_json` (a syntax error is left to the route,
  which answers it in its own words): `NaN`/`Infinity`,
  integers of more than `MAX_INT_DIGITS` digits, nesting deeper than `MAX_JSON_DEPTH`, strings
  or keys holding lone surrogates, and the engine's own claim-check shape (`$claim`,
  `$omitted`: internal references, never user data) are a 400/422 naming the field;
- a YAML body (a definition) is composed without expansion and refused when its aliases
  would expand it beyond `MAX_YAML_NODES` values (`yaml_expansion_problem`).

The body is then replayed to the route unchanged.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import yaml
from starlette.responses import JSONResponse

from workflows.services.core.payload_refs import reserved_shape

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_YAML_NODES",
    "BodyGuard",
    "BodyProblem",
    "check_value",
    "parse_json",
    "yaml_expansion_problem",
]

MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 100
MAX_YAML_NODES = 50_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONG_DIGITS = re.compile(rb"\d{%d}" % (MAX_INT_DIGITS + 1))
_INT_BOUND = 10**MAX_INT_DIGITS
THREAD_ABOVE = 256 * 1024  # bodies larger than this are checked off the event loop
_JSON_TYPES = ("application/json",)
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyProblem(ValueError):
    """A body refused at the edge: `status`, and the `path` of the field (`(body)` for all)."""

    def __init__(self, status: int, path: str, message: str, *, syntax: bool = False) -> None:
        super().__init__(f"{path}: {message}")
        self.status = status
        self.path = path
        self.message = message
        self.syntax = syntax

    def body(self) -> dict[str, Any]:
        return {"error": str(self), "issues": [{"path": self.path, "message": self.message}]}


def _path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


class _Refused(str):
    """Stands in the parsed value for a number refused while parsing, so that `check_value`
    can name its field."""

    __slots__ = ()


def _constant(name: str) -> Any:
    return _Refused(f"{name} is not a JSON number")


def _integer(text: str) -> int | _Refused:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return _Refused(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def parse_json(body: bytes) -> Any:
    """The JSON value of `body`; BodyProblem for anything a route should never see."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyProblem(
            400, "(body)", f"not valid UTF-8 (byte {exc.start})", syntax=True
        ) from None
    try:
        long_digits = _LONG_DIGITS.search(body) is not None  # else C parses every integer
        parse_int = _integer if long_digits else None
        value = json.loads(text, parse_constant=_constant, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BodyProblem(
            400, "(body)", f"not valid JSON: {exc.msg} at {where}", syntax=True
        ) from None
    except RecursionError:
        raise BodyProblem(400, "(body)", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_value(value)
    return value


def check_value(value: Any, root: tuple[str | int, ...] = ()) -> None:
    """Depth, integers, floats, lone surrogates and reserved shapes of a parsed JSON value.

    Iterative (no recursion limit to hit); raises BodyProblem naming the first bad field.
    Only containers are stacked with their path: a scalar's path is built when it is bad.
    """
    problem = _problem(value)
    if problem is not None:
        raise BodyProblem(422, _path(root), problem)
    stack: list[tuple[tuple[str | int, ...], Any]] = [(root, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict | list) and len(where) - len(root) >= MAX_JSON_DEPTH:
            raise BodyProblem(422, _path(where), f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            reserved = reserved_shape(item)
            if reserved is not None:
                raise BodyProblem(422, _path(where), reserved)
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        for key, child in children:
            if isinstance(key, str) and _SURROGATE.search(key):
                raise BodyProblem(422, _path(where), f"key {key!r} is not a valid name")
            if isinstance(child, dict | list):
                stack.append(((*where, key), child))
            elif (problem := _problem(child)) is not None:
                raise BodyProblem(422, _path((*where, key)), problem)


def _problem(item: Any) -> str | None:
    """Why a scalar is refused, or None."""
    if isinstance(item, _Refused):
        return str(item)
    if isinstance(item, str):
        return "holds a lone UTF-16 surrogate" if _SURROGATE.search(item) else None
    if isinstance(item, bool) or item is None:
        return None
    if isinstance(item, int):
        return None if -_INT_BOUND < item < _INT_BOUND else f"more than {MAX_INT_DIGITS} digits"
    if isinstance(item, float) and not math.isfinite(item):
        return "NaN and Infinity are not JSON numbers"
    return None


def yaml_expansion_problem(text: str, limit: int = MAX_YAML_NODES) -> str | None:
    """Why YAML `text` must not be loaded (aliases expanding past `limit` values), or None.

    Composes the node graph (an alias is the same node object, nothing is copied) and counts
    the values of the expanded document with one memoized pass.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None  # the loader reports the syntax error with its line
    except RecursionError:
        return "nested too deeply"
    if root is None:
        return None
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack: list[yaml.Node] = [root]
    seen: set[int] = set()
    while stack:  # post-order without recursion
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        total = 1 + sum(sizes.get(id(child), 1) for child in _children(node))
        sizes[id(node)] = total
        if total > limit:
            return f"its aliases expand it to more than {limit} values"
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class BodyGuard:
    """The middleware; `max_body` in bytes."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:  # no route, file or key holds one
            problem = BodyProblem(400, "(path)", "a path may not hold NUL bytes (%00)")
            await self._refuse(scope, receive, send, problem)
            return
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        if declared > self.max_body:
            await self._refuse(scope, receive, send, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self._refuse(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if len(body) > THREAD_ABOVE:  # a walk over millions of values: not on the loop
                await asyncio.to_thread(self._check, body, media)
            else:
                self._check(body, media)
        except BodyProblem as exc:
            await self._refuse(scope, receive, send, exc)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> BodyProblem:
        return BodyProblem(413, "(body)", f"larger than {self.max_body} bytes")

    @staticmethod
    def _check(body: bytes, media: str) -> None:
        if not body.strip():
            return
        if media in _YAML_TYPES:
            problem = yaml_expansion_problem(body.decode("utf-8", errors="replace"))
            if problem is not None:
                raise BodyProblem(413, "(body)", problem)
            return
        if media in _JSON_TYPES or media.endswith("+json") or not media:  # routes read JSON
            try:
                parse_json(body)
            except BodyProblem as exc:
                if not exc.syntax:  # a syntax error: each route answers it in its own words
                    raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: BodyProblem) -> None:
        headers = {"connection": "close"} if exc.status == 413 else None
        response = JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        await response(scope, receive, send)
