"""Errors raised by the API client (`workflows.client`)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ClientError",
    "ExecutionFailed",
    "ExecutionTimeout",
    "PermissionDenied",
]


class ClientError(Exception):
    """Root of the API client's errors."""


class ApiError(ClientError):
    """The API answered with an error status; `error` is its message, `body` the whole reply."""

    def __init__(self, status_code: int, error: str, body: Any = None) -> None:
        self.status_code = status_code
        self.error = error
        self.body = body
        issues = body.get("issues") if isinstance(body, dict) else None
        detail = ""
        if isinstance(issues, list) and issues:
            detail = "; " + "; ".join(_issue_text(i) for i in issues[:5])
        super().__init__(f"HTTP {status_code}: {error}{detail}")


class AuthenticationError(ApiError):
    """401: no API key, or an unknown or revoked one (pass `api_key=` or set WORKFLOWS_API_KEY)."""


class PermissionDenied(ApiError):
    """403: the API key lacks the scope the call needs (the message names it)."""


def _issue_text(issue: Any) -> str:
    if isinstance(issue, dict):
        return str(issue.get("text") or f"{issue.get('path')}: {issue.get('message')}")
    return str(issue)


class ExecutionFailed(ClientError):
    """An execution ended without completing (failed, cancelled or timed_out)."""

    def __init__(self, execution_id: str, status: str, error: Any = None) -> None:
        self.execution_id = execution_id
        self.status = status
        self.error = error
        message = error.get("message") if isinstance(error, dict) else error
        reason = f": {message}" if message else ""
        super().__init__(f"execution {execution_id} {status}{reason}")


class ExecutionTimeout(ClientError, TimeoutError):
    """Waiting for an execution ran past the deadline; it may still finish later."""

    def __init__(self, execution_id: str, status: str, timeout: float) -> None:
        self.execution_id = execution_id
        self.status = status
        self.timeout = timeout
        super().__init__(f"execution {execution_id} still {status} after {timeout:g}s")
