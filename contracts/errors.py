"""The error raised when bytes off the wire do not form a valid contract message."""

from __future__ import annotations

__all__ = ["ContractError"]


class ContractError(ValueError):
    """A message could not be decoded.

    `reason` is a human-readable explanation, `field` the camelCase path of the
    offending field (when one is to blame) and `code` a stable machine-readable
    category: too_large, invalid_utf8, invalid_json, not_object,
    unsupported_schema_version or validation.
    """

    def __init__(self, reason: str, *, field: str | None = None, code: str = "validation") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.code = code
