"""The pure helper functions callable from expressions, and the JS methods mapped onto them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from .list_helpers import LIST_HELPERS, HelperError
from .values import (
    UNDEFINED,
    is_nullish,
    is_number,
    kind,
    norm_number,
    strict_equals,
    to_js_string,
    to_json_string,
    to_number,
)

__all__ = ["HELPERS", "HELPER_TABLE", "METHODS", "METHOD_TABLE", "HelperError"]


def _str_arg(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise HelperError(f"{name}() needs a string, got {kind(value)}")
    return value


def _num_arg(name: str, value: Any) -> int | float:
    if not is_number(value):
        raise HelperError(f"{name}() needs a number, got {kind(value)}")
    return norm_number(value)


def _string_fn(name: str, fn: Callable[[str], str]) -> Callable[..., Any]:
    def helper(value: Any) -> Any:
        return value if is_nullish(value) else fn(_str_arg(name, value))

    return helper


def _len(value: Any) -> int:
    if is_nullish(value):
        return 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise HelperError(f"len() needs a string, array or object, got {kind(value)}")


def _contains(hay: Any, needle: Any) -> bool:
    if is_nullish(hay):
        return False
    if isinstance(hay, str):
        return to_js_string(needle) in hay
    if isinstance(hay, list | tuple):
        return any(strict_equals(item, needle) for item in hay)
    if isinstance(hay, Mapping):
        return isinstance(needle, str) and needle in hay
    raise HelperError(f"contains() needs a string, array or object, got {kind(hay)}")


def _starts_with(value: Any, prefix: Any) -> Any:
    return (
        UNDEFINED
        if is_nullish(value)
        else _str_arg("startsWith", value).startswith(to_js_string(prefix))
    )


def _ends_with(value: Any, suffix: Any) -> Any:
    return (
        UNDEFINED
        if is_nullish(value)
        else _str_arg("endsWith", value).endswith(to_js_string(suffix))
    )


def _keys(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [str(i) for i in range(len(value))]
    raise HelperError(f"keys() needs an object or array, got {kind(value)}")


def _join(value: Any, sep: Any = ",") -> Any:
    if is_nullish(value):
        return UNDEFINED
    if not isinstance(value, list | tuple):
        raise HelperError(f"join() needs an array, got {kind(value)}")
    return to_js_string(sep).join("" if is_nullish(v) else to_js_string(v) for v in value)


def _math(name: str, fn: Callable[[float], float]) -> Callable[..., Any]:
    def helper(value: Any) -> int | float:
        x = _num_arg(name, value)
        return x if x != x or math.isinf(x) else norm_number(fn(x))

    return helper


def _js_round(x: float) -> float:
    floor = math.floor(x)
    return floor + 1 if x - floor >= 0.5 else floor


def _extreme(name: str, pick: Callable[..., Any], empty: float) -> Callable[..., Any]:
    def helper(*args: Any) -> int | float:
        if len(args) == 1 and isinstance(args[0], list | tuple):
            args = tuple(args[0])
        nums = [_num_arg(name, a) for a in args]
        if any(x != x for x in nums):
            return math.nan
        return pick(nums) if nums else empty

    return helper


def _json(value: Any) -> Any:
    return UNDEFINED if value is UNDEFINED else to_json_string(value)


def _coalesce(*args: Any) -> Any:
    return next((a for a in args if not is_nullish(a)), UNDEFINED)


def _default(value: Any, fallback: Any) -> Any:
    return fallback if is_nullish(value) else value


# name -> (function, min args, max args or None for variadic)
HELPER_TABLE: Final[dict[str, tuple[Callable[..., Any], int, int | None]]] = {
    "abs": (_math("abs", abs), 1, 1),
    "ceil": (_math("ceil", math.ceil), 1, 1),
    "coalesce": (_coalesce, 0, None),
    "contains": (_contains, 2, 2),
    "default": (_default, 2, 2),
    "endsWith": (_ends_with, 2, 2),
    "floor": (_math("floor", math.floor), 1, 1),
    "join": (_join, 1, 2),
    "json": (_json, 1, 1),
    "keys": (_keys, 1, 1),
    "len": (_len, 1, 1),
    "lower": (_string_fn("lower", str.lower), 1, 1),
    "max": (_extreme("max", max, -math.inf), 0, None),
    "min": (_extreme("min", min, math.inf), 0, None),
    "number": (to_number, 1, 1),
    "round": (_math("round", _js_round), 1, 1),
    "startsWith": (_starts_with, 2, 2),
    "string": (to_js_string, 1, 1),
    "trim": (_string_fn("trim", str.strip), 1, 1),
    "upper": (_string_fn("upper", str.upper), 1, 1),
    **LIST_HELPERS,
}
HELPERS: Final = tuple(sorted(HELPER_TABLE))

# JS method name -> helper called with the receiver as first argument.
METHOD_TABLE: Final = {
    "endsWith": "endsWith",
    "includes": "contains",
    "join": "join",
    "startsWith": "startsWith",
    "toLowerCase": "lower",
    "toUpperCase": "upper",
    "trim": "trim",
}
METHODS: Final = tuple(sorted(METHOD_TABLE))
