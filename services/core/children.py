"""Child workflows: a step whose function is `workflow:<name>` runs another workflow.

The engine dispatches such a step like any other; the orchestrator's outbox turns the
dispatch into a `StartExecution` of `<name>` (latest version) with id
`{parent}-{step}-{attempt}` and `parent` set, instead of a step command. When the child
ends, its terminal transition publishes a `StepResult` for that attempt to the parent:
`ok` with the child's output when it completed, else a `ChildWorkflowFailed` error. When
the parent ends (cancelled, failed, timed out) while a child step runs, the child is
cancelled (`CancelChild` effect -> `CancelExecution`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workflows.services.core import engine
from workflows.services.core.extensions import Extension
from workflows.services.core.state import ExecutionStatus, StepRun, StepStatus

if TYPE_CHECKING:
    from workflows.services.core.compiled import CompiledStep

__all__ = [
    "EXTENSION",
    "PREFIX",
    "CancelChild",
    "cancel_running",
    "check_child_input",
    "child_execution_id",
    "child_workflow",
]

PREFIX = "workflow:"


@dataclass(frozen=True, slots=True)
class CancelChild:
    execution_id: str
    reason: str


def child_workflow(function: str | None) -> str | None:
    """The child workflow's name if `function` is `workflow:<name>`."""
    if function and function.startswith(PREFIX):
        return function[len(PREFIX) :]
    return None


def child_execution_id(parent_id: str, step_id: str, attempt: int) -> str:
    return f"{parent_id}-{step_id}-{attempt}"


def check_child_input(active: engine.Run, cs: CompiledStep, run: StepRun, rendered: Any) -> bool:
    """A child's input must be an object: fail the attempt (True) when it is not."""
    if child_workflow(run.function) is None or isinstance(rendered, dict):
        return False
    message = f"steps[{cs.index}].input: a child workflow's input must be an object"
    active.step_error(
        cs, run, {"type": "InvalidChildInput", "message": message, "retryable": False}
    )
    return True


def cancel_running(active: engine.Run, reason: str) -> None:
    """Cancel the children of the child-workflow steps still running."""
    state = active.state
    for step_id, run in state.steps.items():
        if run.status == StepStatus.RUNNING and child_workflow(run.function) is not None:
            child = child_execution_id(state.execution_id, step_id, run.attempt)
            active.out.effects.append(CancelChild(child, reason))


def _before_finish(active: engine.Run, status: ExecutionStatus, error: Any) -> bool:
    """The execution ends: its running children are cancelled (never defers the end)."""
    cancel_running(active, f"the parent execution {status.value}")
    return False


EXTENSION = Extension("children", on_dispatch=check_child_input, before_finish=_before_finish)
