"""Lifecycle events published by the orchestrator (topic wf.executions.events)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field

from workflows.contracts.base import Actor, Message

__all__ = ["LIFECYCLE_EVENT_TYPES", "LifecycleEvent", "LifecycleEventType"]

LifecycleEventType = Literal[
    "execution.started",
    "execution.completed",
    "execution.failed",
    "execution.cancelled",
    "execution.paused",
    "execution.resumed",
    "execution.timed_out",
    "execution.migrated",
    "execution.migration_skipped",
    "step.started",
    "step.succeeded",
    "step.failed",
    "step.retrying",
    "step.skipped",
    "step.fallback",
    "step.timed_out",
    "execution.waiting",
    "step.signalled",
    "step.approval",
    "step.escalated",
    "step.compensating",
    "step.compensated",
    "step.compensation_failed",
    "loop.iteration",
]

LIFECYCLE_EVENT_TYPES: tuple[LifecycleEventType, ...] = get_args(LifecycleEventType)


class LifecycleEvent(Message):
    """Something happened to an execution or one of its steps."""

    type: LifecycleEventType
    workflow: str
    workflow_version: int
    step_id: str | None = None
    attempt: int | None = None
    status: str | None = None
    data: dict[str, Any] = Field(
        default_factory=dict, description="Details, e.g. output, error, delay, condition value."
    )
    actor: Actor | None = None
