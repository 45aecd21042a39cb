"""Commands to the orchestrator: start an execution, and control a running one."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter

from workflows.contracts.base import Actor, Message, WireModel

__all__ = [
    "CONTROL_COMMAND_ADAPTER",
    "CancelExecution",
    "ControlCommand",
    "MigrateExecution",
    "MigratedFrom",
    "ParentRef",
    "PauseExecution",
    "ResumeExecution",
    "RetryExecution",
    "SignalExecution",
    "StartExecution",
    "StartTrigger",
    "TimerFired",
    "TriggerEvent",
    "TriggerSchedule",
]


class ParentRef(WireModel):
    """The parent step of a child workflow execution."""

    execution_id: str
    step_id: str


class TriggerEvent(WireModel):
    """The event that started an execution (`{{trigger.event.*}}`)."""

    id: str
    type: str
    source: str | None = None
    time: str | None = None
    data: Any = Field(default=None, description="Omitted (null) when larger than the limit.")
    data_omitted: str | None = Field(
        default=None, description="Why `data` is null: it was larger than the limit."
    )

    @classmethod
    def bounded(cls, data: Any, max_bytes: int, **fields: Any) -> TriggerEvent:
        """The event with its data, or without it (and why) when its JSON is over `max_bytes`
        (the claim-check limit: the execution's state and the start message stay small)."""
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        if size <= max_bytes:
            return cls(data=data, **fields)
        why = f"event data of {size} bytes is over the {max_bytes}-byte limit of trigger.event"
        return cls(data=None, data_omitted=why, **fields)


class TriggerSchedule(WireModel):
    """The schedule occurrence that started an execution (`{{trigger.schedule.*}}`)."""

    id: str
    scheduled_at: AwareDatetime = Field(description="The fire time of the occurrence.")
    cron_expression: str | None = None
    every: str | None = None
    timezone: str | None = None


class StartTrigger(WireModel):
    """What started an execution, beyond `actor`: the event or the schedule."""

    event: TriggerEvent | None = None
    schedule: TriggerSchedule | None = None


class MigratedFrom(WireModel):
    """The execution a cancel-and-restart migration replaces, and its version."""

    execution_id: str
    workflow_version: int = Field(ge=1)


class StartExecution(Message):
    """Start a new execution of `workflow` (topic wf.executions.start)."""

    workflow: str
    workflow_version: int | None = Field(
        default=None, description="Pinned definition version; null means the latest."
    )
    input: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(
        default=None, description="Starts with the same key and workflow are deduplicated."
    )
    actor: Actor
    parent: ParentRef | None = None
    retry_of: str | None = Field(
        default=None, description="Lineage: id of the execution this one re-runs."
    )
    from_step: str | None = Field(
        default=None, description="With retryOf: re-run from this step (default: the failed one)."
    )
    notifications: dict[str, list[str]] | None = None
    priority: int | None = Field(
        default=None,
        ge=-1000,
        le=1000,
        description="Dispatch order when a function is backlogged: higher first; null means "
        "the definition's `priority` (default 0).",
    )
    migrated_from: MigratedFrom | None = Field(
        default=None,
        description="Lineage: the execution this one restarts on a new version "
        "(migration cancel-and-restart).",
    )
    trigger: StartTrigger | None = Field(
        default=None, description="The event or schedule that started it (`{{trigger.*}}`)."
    )


def _require_kind(schema: dict[str, Any]) -> None:
    """Mark the `kind` discriminator required in JSON Schema (the union needs it)."""
    required = schema.setdefault("required", [])
    if isinstance(required, list) and "kind" not in required:
        required.insert(0, "kind")


class _Control(Message):
    model_config = ConfigDict(json_schema_extra=_require_kind)


class CancelExecution(_Control):
    """Cancel a running or paused execution."""

    kind: Literal["cancel"] = "cancel"
    reason: str | None = None
    actor: Actor


class PauseExecution(_Control):
    """Pause an execution: no new steps are dispatched until resumed."""

    kind: Literal["pause"] = "pause"
    actor: Actor


class ResumeExecution(_Control):
    """Resume a paused execution."""

    kind: Literal["resume"] = "resume"
    actor: Actor


class RetryExecution(_Control):
    """Re-run an execution as `new_execution_id`, optionally from a step or with new input."""

    kind: Literal["retry"] = "retry"
    from_step: str | None = None
    input: dict[str, Any] | None = Field(default=None, description="Edited input; null keeps it.")
    new_execution_id: str = Field(min_length=1)
    actor: Actor


class TimerFired(_Control):
    """A durable timer came due: a retry delay, a step timeout or a sleep."""

    kind: Literal["timer"] = "timer"
    timer: Literal[
        "retry",
        "timeout",
        "execution_timeout",
        "sleep",
        "wait_timeout",
        "wait_escalate",
        "compensate_retry",
    ]
    step_id: str
    attempt: int = Field(ge=1)
    due_at: AwareDatetime


class SignalExecution(_Control):
    """Deliver a signal or event to a waiting step (waitForEvent, approval) of the execution."""

    kind: Literal["signal"] = "signal"
    name: str = Field(min_length=1, max_length=200, description="Event type or signal name.")
    payload: Any = Field(default=None, description="Any JSON value; the waiting step's output.")
    correlation: str | None = Field(default=None, max_length=1000)
    step_id: str | None = Field(default=None, description="Only this waiting step (approvals).")
    signal_id: str = Field(min_length=1, max_length=255, description="Deduplicates deliveries.")
    sent_at: AwareDatetime | None = Field(default=None, description="First received (buffering).")
    actor: Actor


class MigrateExecution(_Control):
    """A new version of the execution's workflow was registered: move the execution onto
    `toVersion` by its `policy` (the new definition's `migration`)."""

    kind: Literal["migrate"] = "migrate"
    to_version: int = Field(ge=2)
    policy: Literal["cancel-and-restart", "resume-at-same-step"]
    actor: Actor


ControlCommand = Annotated[
    CancelExecution
    | PauseExecution
    | ResumeExecution
    | RetryExecution
    | TimerFired
    | SignalExecution
    | MigrateExecution,
    Field(discriminator="kind"),
]
"""Any command on wf.executions.control, told apart by `kind`."""

CONTROL_COMMAND_ADAPTER: TypeAdapter[ControlCommand] = TypeAdapter(ControlCommand)
