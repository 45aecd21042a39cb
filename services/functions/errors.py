"""The errors a workflow function raises to say how its step attempt failed.

    WorkflowsError          a function's failure: .message .type .details .retryable
    ├── RetryableError      transient: the engine may run the step again
    └── FatalError          permanent: the step fails now

They live here, below the services (the dispatcher and the worker catch them when they run a
function); the SDK shows them as `workflows.WorkflowsError` etc., drawn beside its API
client's errors in `workflows/errors.py`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FatalError", "RetryableError", "WorkflowsError"]


class WorkflowsError(Exception):
    """Root of a function's failures; `type` names the failure (default: the class name)."""

    retryable: bool = True

    def __init__(
        self, message: str, *, type: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.__class__.__name__
        self.details = details


class RetryableError(WorkflowsError):
    """A transient failure: the engine may run the step again (per its retry policy)."""

    retryable = True


class FatalError(WorkflowsError):
    """A permanent failure: retrying cannot help, the step fails now."""

    retryable = False
