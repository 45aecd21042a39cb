"""An execution's state, as kept in Redis and returned by the status API (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "TERMINAL_EXECUTION",
    "AuditEntry",
    "ExecutionState",
    "ExecutionStatus",
    "StepRun",
    "StepStatus",
]


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


TERMINAL_EXECUTION = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
    }
)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING_RETRY = "waiting_retry"
    WAITING = "waiting"  # a built-in wait: sleep, waitForEvent, approval
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    CAUGHT = "caught"  # failed, and a `catch` entry routed the execution on (reads as {error})
    CANCELLED = "cancelled"


DONE_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.CAUGHT})


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class StepRun(_Model):
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    function: str | None = None
    fallback: bool = False
    fallback_from_attempt: int = 0
    retry_due: bool = False
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    condition_value: Any = None
    started_at: datetime | None = None
    attempt_started_at: datetime | None = None
    finished_at: datetime | None = None
    next_retry_at: datetime | None = None
    # workflows.services.core.waits: what the waiting step waits for
    wait: dict[str, Any] | None = None
    kpis: dict[str, Any] | None = None  # what the function reported under `_kpis`
    iteration: int = 0  # workflows.services.core.loops: which pass of its loop it belongs to


class AuditEntry(_Model):
    seq: int
    at: datetime
    type: str
    step_id: str | None = None
    attempt: int | None = None
    actor: dict[str, Any] | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class ExecutionState(_Model):
    execution_id: str
    workflow: str
    workflow_version: int
    status: ExecutionStatus = ExecutionStatus.RUNNING
    input: dict[str, Any]
    steps: dict[str, StepRun]
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    actor: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None  # the event or schedule that started it
    idempotency_key: str | None = None
    retry_of: str | None = None
    retried_by: str | None = None
    paused: bool = False
    notifications: dict[str, list[str]] | None = None
    priority: int = 0  # every step command carries it (the dispatcher orders by it)
    history: list[AuditEntry] = Field(default_factory=list)
    kpis: dict[str, float] = Field(default_factory=dict)
    kpis_missing: dict[str, str] = Field(default_factory=dict)
    parent: dict[str, Any] | None = None  # child workflow: {executionId, stepId, attempt}
    compensation: dict[str, Any] | None = None  # workflows.services.core.saga: in progress
    # W3C trace context of the execution's span (workflows.services.infra.tracing): steps join it
    trace_context: dict[str, str] | None = None
    # workflows.services.core.migration: {from, to, policy, resumeAt | restartedAs | restartedFrom}
    migration: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_EXECUTION

    def progress(self) -> dict[str, Any]:
        """Steps done (succeeded or skipped) out of all, and the steps now running."""
        done = sum(1 for run in self.steps.values() if run.status in DONE_STEP)
        current = [
            step_id
            for step_id, run in self.steps.items()
            if run.status in (StepStatus.RUNNING, StepStatus.WAITING_RETRY, StepStatus.WAITING)
        ]
        return {"done": done, "total": len(self.steps), "currentSteps": current}
