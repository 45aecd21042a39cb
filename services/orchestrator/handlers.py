"""Map one decoded message onto the pure state transitions of `workflows.services.core.engine`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workflows.contracts import (
    CancelExecution,
    MigrateExecution,
    PauseExecution,
    ResumeExecution,
    RetryExecution,
    SignalExecution,
    StartExecution,
    StepResult,
    TimerFired,
)
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import (
    Transition,
    apply_step_result,
    cancel_execution,
    fire_timer,
    pause_execution,
    resume_execution,
    retry_execution,
    start_execution,
)
from workflows.services.core.state import ExecutionState
from workflows.services.core.waits import deliver_signal
from workflows.services.orchestrator.migrations import migration_transition, restarted
from workflows.services.orchestrator.signals import parent_of

__all__ = ["Rejected", "transition_for"]


class Rejected(Exception):
    """The message cannot apply to any execution (it goes to the DLQ with this reason)."""


def _actor(message: Any) -> dict[str, Any] | None:
    actor = getattr(message, "actor", None)
    return actor.model_dump(mode="json") if actor is not None else None


def _trigger(message: StartExecution) -> dict[str, Any] | None:
    """The start's event or schedule as `{{trigger.*}}` reads it (camelCase)."""
    trigger = message.trigger
    return trigger.model_dump(mode="json", by_alias=True, exclude_none=True) if trigger else None


def transition_for(
    message: Any,
    wf: CompiledWorkflow,
    state: ExecutionState | None,
    previous: ExecutionState | None = None,
    now: datetime | None = None,
) -> Transition:
    now = now or datetime.now(UTC)
    if isinstance(message, StartExecution):
        if state is not None:
            return Transition(state, duplicate=True)
        if message.retry_of is not None:
            if previous is None:
                raise Rejected(f"retryOf: unknown execution '{message.retry_of}'")
            return retry_execution(
                wf,
                previous,
                message.execution_id,
                now,
                from_step=message.from_step,
                input_=message.input or None,
                actor=_actor(message),
            )
        started = start_execution(
            wf,
            message.execution_id,
            dict(message.input),
            now,
            actor=_actor(message),
            idempotency_key=message.idempotency_key,
            notifications=message.notifications,
            priority=message.priority,
            trigger=_trigger(message),
        )
        started.state.parent = parent_of(message)  # a child workflow reports to its parent
        restarted(started, message, now)  # cancel-and-restart: name the execution it replaces
        return started
    if state is None:
        raise Rejected(f"unknown execution '{message.execution_id}'")
    if isinstance(message, StepResult):
        error = message.error.model_dump(mode="json") if message.error else None
        return apply_step_result(
            wf,
            state,
            message.step_id,
            message.attempt,
            now,
            ok=message.ok,
            output=message.output,
            error=error,
            call=message.call,
            worker_id=message.worker_id,
        )
    if isinstance(message, TimerFired):
        return fire_timer(wf, state, message.timer, message.step_id, message.attempt, now)
    if isinstance(message, CancelExecution):
        return cancel_execution(wf, state, now, message.reason, _actor(message))
    if isinstance(message, PauseExecution):
        return pause_execution(wf, state, now, _actor(message))
    if isinstance(message, ResumeExecution):
        return resume_execution(wf, state, now, _actor(message))
    if isinstance(message, RetryExecution):
        if state.status.value not in ("failed", "cancelled", "timed_out"):
            raise Rejected(
                f"execution '{state.execution_id}' is {state.status.value}; only a "
                "failed, cancelled or timed-out execution can be retried"
            )
        state.retried_by = message.new_execution_id
        return Transition(state)
    if isinstance(message, SignalExecution):
        return deliver_signal(
            wf,
            state,
            now,
            name=message.name,
            payload=message.payload,
            signal_id=message.signal_id,
            correlation=message.correlation,
            step_id=message.step_id,
            actor=_actor(message),
            sent_at=message.sent_at,
        )
    if isinstance(message, MigrateExecution):
        return migration_transition(message, wf, state, now, _actor(message))
    raise Rejected(f"unsupported message {type(message).__name__}")
