"""Errors a workflow function raises to say how its step attempt failed."""

from __future__ import annotations

from typing import Any

__all__ = ["FatalError", "RetryableError", "WorkflowsError"]


class WorkflowsError(Exception):
    """Root of the SDK's errors. `type` names the failure (default: the class name)."""

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
