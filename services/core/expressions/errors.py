"""Errors raised while parsing or evaluating expressions.

Error tree (a branch of the core's tree, drawn in services/core/errors.py)::

    ExpressionError                  has .message, .column (1-based), .source
    ├── ExpressionSyntaxError        the text is not a valid expression (parse time)
    ├── ExpressionEvaluationError    a type or name problem while evaluating
    └── ExpressionLimitError         a size, depth or step limit was exceeded
    (workflows.services.core.templates.TemplateError also derives from ExpressionError)
"""

from __future__ import annotations

from workflows.services.core.errors import CoreError


class ExpressionError(CoreError):
    """Base class; ``str()`` reads like ``column 12: unexpected token '='``."""

    def __init__(self, message: str, column: int = 0, source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.source = source

    def __str__(self) -> str:
        if self.column > 0:
            return f"column {self.column}: {self.message}"
        return self.message

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, int, str]]:
        return (type(self), (self.message, self.column, self.source))

    def shifted(self, offset: int, source: str) -> ExpressionError:
        """A copy of this error with the column moved by ``offset`` into ``source``."""
        column = self.column + offset if self.column > 0 else 0
        return type(self)(self.message, column, source)


class ExpressionSyntaxError(ExpressionError):
    """The expression text cannot be parsed."""


class ExpressionEvaluationError(ExpressionError):
    """The expression is valid but failed while evaluating (e.g. ``1 - "a"``)."""


class ExpressionLimitError(ExpressionError):
    """A length, nesting depth, result size or step limit was exceeded."""
