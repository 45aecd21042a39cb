"""What happens between a step's attempts, as events on the orchestrator's span.

The attempts themselves are spans (the dispatcher's or a worker's); the orchestrator decides
what comes between them: a retry wait (`step.retrying`: delayMs, retryAt), a durable wait or
timer (`execution.waiting`: kind sleep / event / approval, until), a fallback, compensation,
a timeout, a child workflow's start. Each is an event on the span of the message that caused
it (`orchestrate StepResult`, `orchestrate TimerFired`, ...), named by its audit type, with
the step, the attempt and the entry's scalar data as attributes. Called only with tracing on.
"""

from __future__ import annotations

from typing import Any

from workflows.services.core.children import child_execution_id, child_workflow
from workflows.services.core.effects import Transition

__all__ = ["BETWEEN_ATTEMPTS", "record_transition"]

BETWEEN_ATTEMPTS = frozenset(
    {
        "step.retrying",
        "step.fallback",
        "step.timed_out",
        "step.compensating",
        "step.compensated",
        "step.compensation_failed",
        "step.approval",
        "step.signalled",
        "step.escalated",
        "execution.waiting",
        "execution.paused",
        "execution.resumed",
    }
)
_SCALARS = (str, bool, int, float)


def record_transition(span: Any, transition: Transition) -> None:
    """Add the transition's between-attempt happenings to `span` as events."""
    eid = transition.state.execution_id
    for entry in transition.events:
        if entry.type not in BETWEEN_ATTEMPTS:
            continue
        attributes: dict[str, Any] = {"execution.id": eid}
        if entry.step_id is not None:
            attributes["step.id"] = entry.step_id
        if entry.attempt is not None:
            attributes["step.attempt"] = entry.attempt
        for key, value in entry.data.items():
            if isinstance(value, _SCALARS):
                attributes[key] = value
            elif isinstance(value, dict) and isinstance(value.get("type"), str):
                attributes[f"{key}.type"] = value["type"]  # error: {type, message, ...}
        span.add_event(entry.type, attributes)
    for dispatch in transition.dispatches:
        name = child_workflow(dispatch.function)
        if name is not None:
            child = child_execution_id(eid, dispatch.step_id, dispatch.attempt)
            span.add_event(
                "child.started",
                {
                    "execution.id": eid,
                    "step.id": dispatch.step_id,
                    "step.attempt": dispatch.attempt,
                    "child.workflow": name,
                    "child.execution_id": child,
                },
            )
