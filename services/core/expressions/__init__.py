"""A safe, JavaScript-like expression language (see docs/expressions.md).

Parse once with :func:`parse`, then call :meth:`Expression.evaluate` with a context of
JSON-like values. No Python ``eval``/``exec``/``getattr`` is ever used on user data.
"""

from .errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
)
from .expression import Expression, Path, evaluate, parse, references
from .helpers import HELPERS, METHODS
from .limits import DEFAULT_LIMITS, Limits
from .values import (
    UNDEFINED,
    is_nullish,
    strict_equals,
    to_js_string,
    to_json_string,
    to_json_value,
    truthy,
    typeof,
)

__all__ = [
    "DEFAULT_LIMITS",
    "HELPERS",
    "METHODS",
    "UNDEFINED",
    "Expression",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "Limits",
    "Path",
    "evaluate",
    "is_nullish",
    "parse",
    "references",
    "strict_equals",
    "to_js_string",
    "to_json_string",
    "to_json_value",
    "truthy",
    "typeof",
]
