"""Step commands (orchestrator -> workers) and step results (workers -> orchestrator)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import AwareDatetime, Field, model_validator

from workflows.contracts.base import Message, WireModel
from workflows.contracts.topics import FUNCTION_NAME_PATTERN

__all__ = ["LogLine", "StepCommand", "StepError", "StepResult", "command_id"]


def command_id(execution_id: str, step_id: str, attempt: int) -> str:
    """The id of one attempt of one step: `{execution_id}:{step_id}:{attempt}`."""
    return f"{execution_id}:{step_id}:{attempt}"


class StepCommand(Message):
    """Run one attempt of one step by calling `function` with `input`."""

    command_id: str = Field(
        description="`{executionId}:{stepId}:{attempt}`; echo it in the result."
    )
    workflow: str
    workflow_version: int
    step_id: str
    function: str = Field(pattern=FUNCTION_NAME_PATTERN)
    input: Any = Field(default=None, description="Any JSON value.")
    attempt: int = Field(ge=1)
    deadline: AwareDatetime | None = Field(
        default=None, description="Results arriving after this instant are ignored."
    )
    idempotency_key: str = Field(description="Stable across attempts: make side effects once.")
    input_ref: str | None = Field(
        default=None, description="Claim-check key of a large input stored out of band."
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="The execution's priority: a backlogged function's commands run higher first.",
    )


class StepError(WireModel):
    """Why a step attempt failed."""

    type: str = Field(
        description="The error's class, e.g. `CardDeclined` (the Python SDK: the exception's "
        "class name or its explicit `type`). Definitions route on it: `retry.retryOn`, "
        "`retry.nonRetryable` and `catch[].errors`."
    )
    message: str
    retryable: bool = True
    details: dict[str, Any] | None = None


class LogLine(WireModel):
    """One line a function logged or printed during the attempt."""

    at: AwareDatetime | None = None
    level: str = Field(
        default="INFO", max_length=16, description="INFO, WARNING, ... or stdout/stderr"
    )
    logger: str = Field(default="", max_length=200)
    message: str = Field(max_length=4096)


class StepResult(Message):
    """The outcome of one step attempt: `output` when ok, else `error`."""

    command_id: str
    step_id: str
    attempt: int = Field(ge=1)
    ok: bool
    output: Any = Field(default=None, description="Any JSON value; null when not ok.")
    error: StepError | None = None
    worker_id: str | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    call: dict[str, Any] | None = Field(
        default=None,
        description="What the attempt called, for the audit trail, e.g. an HTTP function's "
        "`{method, url, status, durationMs}`; never header values or secrets.",
    )
    logs: list[LogLine] | None = Field(
        default=None,
        max_length=1000,
        description="What the function logged during the attempt, oldest first (bounded by "
        "the worker; the engine keeps at most 200 lines / 32 KB, redacts secrets and stores "
        "them beside the execution: GET /executions/{id}/logs).",
    )

    @model_validator(mode="after")
    def _ok_matches_error(self) -> Self:
        if self.ok and self.error is not None:
            raise ValueError("ok=true must not carry an error")
        if not self.ok and self.error is None:
            raise ValueError("ok=false requires an error")
        return self
