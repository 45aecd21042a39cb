"""The list helpers (sum, count, pluck, any, all, unique, sort) and the ``date`` filter.

Each follows the JavaScript expression given in docs/expressions.md; a null or undefined list
reads as an empty one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from workflows.services.core.errors import CoreError

from .values import UNDEFINED, is_nullish, is_number, kind, norm_number, truthy


class HelperError(CoreError):
    """Raised by a helper for a bad argument; the interpreter adds the column."""


def _list_arg(name: str, value: Any) -> list[Any]:
    if is_nullish(value):
        return []
    if not isinstance(value, list | tuple):
        raise HelperError(f"{name}() needs an array, got {kind(value)}")
    return list(value)


def _sum(values: Any) -> int | float:
    """``arr.reduce((a, b) => a + b, 0)`` over numbers (added left to right, as JS does)."""
    total: int | float = 0
    for item in _list_arg("sum", values):
        if not is_number(item):
            raise HelperError(f"sum() needs numbers, got {kind(item)}")
        total = norm_number(total + item)
    return total


def _count(values: Any) -> int:
    """``arr.length``."""
    return len(_list_arg("count", values))


def _field(item: Any, field: str) -> Any:
    return item.get(field, UNDEFINED) if isinstance(item, Mapping) else UNDEFINED


def _pluck(values: Any, field: Any) -> list[Any]:
    """``arr.map((x) => x?.[field])``."""
    if not isinstance(field, str):
        raise HelperError(f"pluck() needs a field name, got {kind(field)}")
    return [_field(item, field) for item in _list_arg("pluck", values)]


def _any(values: Any) -> bool:
    """``arr.some(Boolean)``."""
    return any(truthy(item) for item in _list_arg("any", values))


def _all(values: Any) -> bool:
    """``arr.every(Boolean)`` (true for an empty list)."""
    return all(truthy(item) for item in _list_arg("all", values))


def _same_value_zero_key(item: Any) -> Any:
    if is_number(item):
        return ("n", "NaN" if item != item else norm_number(item) + 0)
    if isinstance(item, str | bool) or is_nullish(item):
        return (kind(item), item if item is not UNDEFINED else None)
    return ("ref", id(item))  # arrays and objects are equal only to themselves


def _unique(values: Any) -> list[Any]:
    """``[...new Set(arr)]``: first occurrences, SameValueZero (NaN equals NaN)."""
    seen: set[Any] = set()
    out: list[Any] = []
    for item in _list_arg("unique", values):
        key = _same_value_zero_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _sort(values: Any, field: Any = UNDEFINED) -> list[Any]:
    """Numbers ascending (``arr.sort((a, b) => a - b)``) or strings by code point
    (``arr.sort()``); with ``field``, objects by that field. A stable sort."""
    items = _list_arg("sort", values)
    if field is not UNDEFINED and not isinstance(field, str):
        raise HelperError(f"sort() needs a field name, got {kind(field)}")
    keys = [_field(item, field) for item in items] if isinstance(field, str) else items
    if all(is_number(k) for k in keys):
        if any(k != k for k in keys):
            raise HelperError("sort() cannot order NaN")
    elif not all(isinstance(k, str) for k in keys):
        kinds = sorted({kind(k) for k in keys})
        raise HelperError(f"sort() needs all numbers or all strings, got {', '.join(kinds)}")
    order = sorted(range(len(items)), key=lambda i: keys[i])
    return [items[i] for i in order]


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TOKENS: Final = re.compile(r"\[[^\]]*\]|YYYY|YY|MM|M|DD|D|HH|H|mm|m|ss|SSS|s|Z")


def _instant(value: Any) -> datetime | None:
    if is_number(value):
        if value != value or math.isinf(value):
            return None
        try:
            return _EPOCH + timedelta(milliseconds=math.floor(value))
        except OverflowError:
            return None  # outside years 1..9999
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return None


def _date(value: Any, fmt: Any = "YYYY-MM-DDTHH:mm:ss.SSSZ") -> Any:
    """Format an ISO-8601 text or epoch milliseconds in UTC with dayjs-style tokens."""
    if is_nullish(value):
        return value
    if not isinstance(fmt, str):
        raise HelperError(f"date() needs a format string, got {kind(fmt)}")
    moment = _instant(value)
    if moment is None:
        return "Invalid Date"
    parts = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MM": f"{moment.month:02d}",
        "M": str(moment.month),
        "DD": f"{moment.day:02d}",
        "D": str(moment.day),
        "HH": f"{moment.hour:02d}",
        "H": str(moment.hour),
        "mm": f"{moment.minute:02d}",
        "m": str(moment.minute),
        "ss": f"{moment.second:02d}",
        "s": str(moment.second),
        "SSS": f"{moment.microsecond // 1000:03d}",
        "Z": "Z",
    }

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        return text[1:-1] if text.startswith("[") else parts[text]

    return _TOKENS.sub(token, fmt)


LIST_HELPERS: Final[dict[str, tuple[Callable[..., Any], int, int | None]]] = {
    "all": (_all, 1, 1),
    "any": (_any, 1, 1),
    "count": (_count, 1, 1),
    "date": (_date, 1, 2),
    "pluck": (_pluck, 2, 2),
    "sort": (_sort, 1, 2),
    "sum": (_sum, 1, 1),
    "unique": (_unique, 1, 1),
}
