"""The SDK's errors: two trees, one for each side of the SDK.

A workflow function raises a `WorkflowsError` to say how its step attempt failed; the API
client (`workflows.client`) raises a `ClientError` when a call to the API does not give what
was asked. Neither is under the other: catch `WorkflowsError` in code around your functions
and `ClientError` around client calls. Errors carry what they are about as attributes.

Error trees::

    WorkflowsError                      a function's failure: .message .type .details .retryable
    ├── RetryableError                  transient: the engine may run the step again
    └── FatalError                      permanent: the step fails now

    ClientError                         a call to the API failed
    ├── ApiError                        an error status: .status_code .error .body
    │   ├── AuthenticationError         401: no API key, or an unknown or revoked one
    │   └── PermissionDenied            403: the key lacks the scope the call needs
    ├── ExecutionFailed                 ended without completing: .execution_id .status .error
    └── ExecutionTimeout (TimeoutError) still running at the deadline: .execution_id .status
                                          .timeout

`tests/unit/test_error_trees.py` checks these drawings against the classes.
"""

from __future__ import annotations

from typing import Any

from workflows.services.functions.errors import FatalError, RetryableError, WorkflowsError

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ClientError",
    "ExecutionFailed",
    "ExecutionTimeout",
    "FatalError",
    "PermissionDenied",
    "RetryableError",
    "WorkflowsError",
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
