"""JavaScript-like value semantics over plain JSON-like Python data."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

MAX_SAFE: Final = 2**53


class _Undefined:
    """The JavaScript ``undefined`` value: falsy, ``repr`` is ``undefined``."""

    __slots__ = ()
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"

    def __copy__(self) -> _Undefined:
        return self

    def __deepcopy__(self, memo: object) -> _Undefined:
        return self


UNDEFINED: Final = _Undefined()


def is_number(value: Any) -> bool:
    """True for int/float but not bool (bools are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def norm_number(value: int | float) -> int | float:
    """Canonical number: integral floats become ints, ints beyond 2**53 become floats."""
    if type(value) is float:
        if value.is_integer() and -MAX_SAFE <= value <= MAX_SAFE:
            if value == 0 and math.copysign(1.0, value) < 0:
                return value  # keep -0
            return int(value)
        return value
    if -MAX_SAFE <= value <= MAX_SAFE:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def truthy(value: Any) -> bool:
    """JS truthiness: "", 0, NaN, null, undefined and false are falsy; [] and {} are truthy."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int | float):
        return value == value and value != 0
    return True


def kind(value: Any) -> str:
    """One of undefined, null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object"


def typeof(value: Any) -> str:
    """The result of the JS ``typeof`` operator."""
    k = kind(value)
    return "object" if k in ("null", "array") else k


def strict_equals(a: Any, b: Any) -> bool:
    """JS ``===``: same kind and value; arrays/objects compare by identity; NaN !== NaN."""
    if a is b:
        return not (isinstance(a, float) and a != a)
    ka = kind(a)
    if ka != kind(b):
        return False
    return ka in ("number", "string", "boolean") and bool(a == b)


def to_primitive(value: Any) -> Any:
    """JS ToPrimitive for plain data: an array becomes its ``String()``, an object
    ``"[object Object]"``; primitives are returned unchanged."""
    if isinstance(value, list | tuple | Mapping):
        return to_js_string(value)
    return value


def to_number(value: Any) -> int | float:
    """JS ``Number(value)``."""
    if is_number(value):
        return norm_number(value)
    if value is UNDEFINED:
        return math.nan
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, list | tuple | Mapping):
        value = to_js_string(value)
    if not isinstance(value, str):
        return math.nan
    text = value.strip()
    if text == "":
        return 0
    if text[:2] in ("0x", "0X", "0o", "0O", "0b", "0B") and "_" not in text:
        try:
            return norm_number(int(text, 0))
        except ValueError:
            return math.nan
    sign, body = (-1, text[1:]) if text[0] == "-" else (1, text[1:] if text[0] == "+" else text)
    if body == "Infinity":
        return sign * math.inf
    if not body or body[0] not in "0123456789." or not all(c in "0123456789.eE+-" for c in body):
        return math.nan
    try:
        return norm_number(sign * float(body))
    except ValueError:
        return math.nan


def loose_equals(a: Any, b: Any) -> bool:
    """JS ``==`` (IsLooselyEqual) over plain data, with JavaScript's coercions."""
    ka, kb = kind(a), kind(b)
    if ka == kb or (ka in _OBJECTS and kb in _OBJECTS):
        return strict_equals(a, b)
    if ka in _NULLISH or kb in _NULLISH:
        return ka in _NULLISH and kb in _NULLISH
    if ka == "boolean":
        return loose_equals(int(a), b)
    if kb == "boolean":
        return loose_equals(a, int(b))
    if ka in _OBJECTS:
        return loose_equals(to_primitive(a), b)
    if kb in _OBJECTS:
        return loose_equals(a, to_primitive(b))
    return bool(to_number(a) == to_number(b))  # a number and a string


def js_less(a: Any, b: Any) -> bool | None:
    """JS IsLessThan(a, b): None when the answer is undefined (a NaN took part)."""
    a, b = to_primitive(a), to_primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    x, y = to_number(a), to_number(b)
    if x != x or y != y:
        return None
    return bool(x < y)


def js_compare(op: str, a: Any, b: Any) -> bool:
    """JS ``<``, ``<=``, ``>`` and ``>=`` with JavaScript's coercions."""
    if op == "<":
        return js_less(a, b) is True
    if op == ">":
        return js_less(b, a) is True
    if op == "<=":
        return js_less(b, a) is False
    return js_less(a, b) is False  # >=


_NULLISH: Final = frozenset({"null", "undefined"})
_OBJECTS: Final = frozenset({"array", "object"})


def format_number(value: int | float) -> str:
    """JS Number.prototype.toString() for a number."""
    if isinstance(value, int):
        if -MAX_SAFE <= value <= MAX_SAFE:
            return str(value)
        return format_number(float(norm_number(value)))
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) <= MAX_SAFE:
        return str(int(value))
    sign = "-" if value < 0 else ""
    dec = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exp = dec.as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = exp + k
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
    return sign + body


def to_js_string(value: Any) -> str:
    """JS ``String(value)``: 3.0 -> "3", [1, null] -> "1,", {} -> "[object Object]"."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, list | tuple):
        return ",".join("" if is_nullish(v) else to_js_string(v) for v in value)
    return "[object Object]"


def to_json_value(value: Any) -> Any:
    """Plain JSON data: undefined -> None (top level, in arrays) and dropped from objects.

    NaN and infinities become None, as ``JSON.stringify`` writes them as null.
    """
    if value is UNDEFINED:
        return None
    if isinstance(value, float):
        return norm_number(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def to_json_string(value: Any) -> str:
    """Compact JSON like JS ``JSON.stringify`` (numbers printed the JS way)."""
    if value is UNDEFINED or value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return format_number(value) if math.isfinite(value) else "null"
    if isinstance(value, Mapping):
        items = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{to_json_string(v)}"
            for k, v in value.items()
            if v is not UNDEFINED
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json_string(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
