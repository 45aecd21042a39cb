"""The API client's errors (`workflows.client`), defined and drawn in `workflows.errors`."""

from __future__ import annotations

from workflows.errors import (
    ApiError,
    AuthenticationError,
    ClientError,
    ExecutionFailed,
    ExecutionTimeout,
    PermissionDenied,
)

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ClientError",
    "ExecutionFailed",
    "ExecutionTimeout",
    "PermissionDenied",
]
