"""Failing an execution that the orchestrator cannot advance: the pure part of "no poison".

When applying one record to an execution raises (a bug, or data no transition can handle: a
number too large for a duration, a KPI of hundreds of digits), that record must not stall its
partition. The orchestrator fails the execution with `fail_execution` instead, from its last
saved document, and goes on with the rest of the batch (`workflows.services.orchestrator.service`).

It is deliberately minimal: no KPIs, no compensation, no templates: whatever broke the
transition may be what those would evaluate again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.services.core.engine import Transition
from workflows.services.core.redaction import redact, secret_values
from workflows.services.core.state import AuditEntry, ExecutionState, ExecutionStatus, StepStatus

__all__ = ["MAX_REASON_CHARS", "apply_error", "fail_execution"]

MAX_REASON_CHARS = 500
_OPEN = (StepStatus.RUNNING, StepStatus.WAITING_RETRY, StepStatus.WAITING)  # as engine's finish


def apply_error(what: str, exc: BaseException) -> dict[str, Any]:
    """The execution's error for `exc`, raised while applying `what` (e.g. "the result of
    step b attempt 2"); the exception's text is cut to `MAX_REASON_CHARS`."""
    text = str(exc)
    if len(text) > MAX_REASON_CHARS:
        text = text[:MAX_REASON_CHARS] + f"... ({len(text)} characters)"
    return {
        "type": "InternalError",
        "message": f"the orchestrator could not apply {what}: {type(exc).__name__}: {text}",
        "retryable": False,
    }


def fail_execution(
    state: ExecutionState,
    now: datetime,
    error: dict[str, Any],
    input_schema: dict[str, Any] | None = None,
) -> Transition:
    """`state` failed at once with `error`; open steps cancelled; one `execution.failed` entry
    (its data redacted like every audit entry). A terminal execution is left as it is."""
    if state.terminal:
        return Transition(state, duplicate=True)
    state.status = ExecutionStatus.FAILED
    state.error = error
    state.finished_at = now
    state.updated_at = now
    state.paused = False
    for run in state.steps.values():
        if run.status in _OPEN:
            run.status = StepStatus.CANCELLED
    data = {
        "durationMs": int((now - state.created_at).total_seconds() * 1000),
        "status": ExecutionStatus.FAILED.value,
        "error": error,
    }
    entry = AuditEntry(
        seq=len(state.history) + 1,
        at=now,
        type="execution.failed",
        data=redact(data, secret_values(input_schema, state.input)),
    )
    state.history.append(entry)
    return Transition(state, events=[entry])
