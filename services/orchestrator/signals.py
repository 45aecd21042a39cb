"""Outbox entries and their flushing for waits, child workflows and compensations.

Called from `outbox.outbox_entries` (entries of a transition) and from the orchestrator's
`_publish` (entries of kinds it does not know itself):

- `["wait", execution_id, [event types], correlation]`: index the wait in Redis and
  re-publish buffered early signals (`workflows.services.infra.waits.register_wait`).
- `["sigbuf", execution_id, signal JSON]`: buffer a signal no step waits for yet.
- a child step's dispatch becomes `StartExecution` of the child workflow (topic start);
  a child's end becomes a `StepResult` for its parent step (topic step results);
  a `CancelChild` effect becomes `CancelExecution` of the child (topic control).
"""

from __future__ import annotations

import json
from typing import Any

from workflows.contracts import (
    Actor,
    CancelExecution,
    ParentRef,
    StartExecution,
    StepError,
    StepResult,
    command_id,
    encode,
)
from workflows.contracts.topics import Topics
from workflows.services.core.children import CancelChild, child_execution_id, child_workflow
from workflows.services.core.engine import DispatchStep, Transition
from workflows.services.core.migration import Restart
from workflows.services.core.namespaces import DEFAULT_NAMESPACE, namespace_of
from workflows.services.core.state import ExecutionState
from workflows.services.core.waits import BufferSignal, RegisterWait
from workflows.services.infra.kafka import Bus
from workflows.services.infra.settings import Settings
from workflows.services.infra.waits import buffer_signal, register_wait
from workflows.services.orchestrator.migrations import restart_entry

__all__ = [
    "ENTRY_KINDS",
    "child_start_entry",
    "extra_entries",
    "flush_entry",
    "parent_of",
    "rejected_child",
]

ENTRY_KINDS = frozenset({"wait", "sigbuf"})
_TERMINAL = frozenset(
    {"execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out"}
)


def child_start_entry(state: ExecutionState, dispatch: DispatchStep, topics: Topics) -> list[Any]:
    """The StartExecution of a child workflow step's attempt (as a `msg` outbox entry)."""
    name = child_workflow(dispatch.function)
    assert name is not None
    eid = state.execution_id
    child = child_execution_id(eid, dispatch.step_id, dispatch.attempt)
    start = StartExecution(
        execution_id=child,
        workflow=name,
        input=dispatch.input if isinstance(dispatch.input, dict) else {},
        actor=Actor(kind="system", id=f"parent:{eid}"),
        parent=ParentRef(execution_id=eid, step_id=dispatch.step_id),
    )
    entry: list[Any] = ["msg", topics.start, child, encode(start).decode()]
    if state.trace_context:  # the child's steps join the parent's trace
        entry.append(state.trace_context)
    return entry


def parent_of(start: StartExecution) -> dict[str, Any] | None:
    """The parent reference kept in a child's state: `{executionId, stepId, attempt}`."""
    if start.parent is None:
        return None
    prefix = f"{start.parent.execution_id}-{start.parent.step_id}-"
    rest = start.execution_id[len(prefix) :] if start.execution_id.startswith(prefix) else ""
    return {
        "executionId": start.parent.execution_id,
        "stepId": start.parent.step_id,
        "attempt": int(rest) if rest.isascii() and rest.isdigit() and len(rest) < 10 else 1,
    }


def _child_result(
    state: ExecutionState, parent: dict[str, Any], retryable: bool | None = None
) -> StepResult:
    pid, step_id, attempt = parent["executionId"], parent["stepId"], int(parent["attempt"])
    common = {
        "execution_id": pid,
        "command_id": command_id(pid, step_id, attempt),
        "step_id": step_id,
        "attempt": attempt,
        "worker_id": f"child:{state.execution_id}",
    }
    if state.status.value == "completed":
        return StepResult(ok=True, output=state.output, **common)
    cause = state.error or {}
    error = StepError(
        type="ChildWorkflowFailed",
        message=(
            f"child execution {state.execution_id} ({state.workflow}) {state.status.value}: "
            f"{cause.get('message', '')}"
        ),
        retryable=state.status.value != "cancelled" if retryable is None else retryable,
        details={
            "childExecutionId": state.execution_id,
            "status": state.status.value,
            "error": cause,
        },
    )
    return StepResult(ok=False, error=error, **common)


def extra_entries(transition: Transition, topics: Topics) -> list[list[Any]]:
    state = transition.state
    eid = state.execution_id
    entries: list[list[Any]] = []
    for effect in transition.effects:
        if isinstance(effect, RegisterWait):
            namespace = namespace_of(state.workflow)
            entries.append(["wait", eid, list(effect.events), effect.correlation, namespace])
        elif isinstance(effect, BufferSignal):
            entries.append(["sigbuf", eid, json.dumps(effect.signal)])
        elif isinstance(effect, CancelChild):
            cancel = CancelExecution(
                execution_id=effect.execution_id,
                reason=effect.reason,
                actor=Actor(kind="system", id=f"parent:{eid}"),
            )
            entries.append(["msg", topics.control, effect.execution_id, encode(cancel).decode()])
        elif isinstance(effect, Restart):  # cancel-and-restart: start it on the new version
            entries.append(restart_entry(effect, state, topics))
    if state.parent and any(e.type in _TERMINAL for e in transition.events):
        result = _child_result(state, state.parent)
        entries.append(["msg", topics.step_results, result.execution_id, encode(result).decode()])
    return entries


async def flush_entry(redis: Any, bus: Bus, settings: Settings, entry: list[Any]) -> None:
    if entry[0] == "wait":
        # entries written before namespaces had 4 fields: those waits are in `default`
        namespace = entry[4] if len(entry) > 4 else DEFAULT_NAMESPACE
        await register_wait(
            redis, bus, settings, bus.topics, entry[1], entry[2], entry[3], namespace
        )
    elif entry[0] == "sigbuf":
        await buffer_signal(redis, settings, entry[1], json.loads(entry[2]))


async def rejected_child(bus: Bus, message: Any, reason: str) -> None:
    """A child's start was refused (e.g. unknown workflow): fail the parent's step."""
    if not isinstance(message, StartExecution) or message.parent is None:
        return
    parent = parent_of(message)
    assert parent is not None
    state = ExecutionState.model_validate(
        {
            "executionId": message.execution_id,
            "workflow": message.workflow,
            "workflowVersion": message.workflow_version or 0,
            "status": "failed",
            "input": message.input,
            "steps": {},
            "error": {"type": "Rejected", "message": reason},
            "createdAt": message.occurred_at,
            "updatedAt": message.occurred_at,
        }
    )
    result = _child_result(state, parent, retryable=False)
    await bus.publish(bus.topics.step_results, encode(result), result.execution_id)
