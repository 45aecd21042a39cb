"""Loops: `loop: {from: stepId, while: expr, maxIterations}` on the last step of a group.

Pure. When that step succeeds and `while` holds (it reads the outputs of this iteration),
the group (`from` through this step, in definition order) runs again: each of its steps is
pending once more with `iteration` one higher, its attempt numbers continue (so command ids
and idempotency keys stay unique) and its retries start afresh. Each new iteration is a
`loop.iteration` entry in the audit trail. Reaching `maxIterations` while `while` still
holds fails the execution with `MaxIterationsReached`. The back edge is the only cycle a
definition may have; it is not a dependency, so validation sees a graph without cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from workflows.services.core.expressions import ExpressionError, to_json_value, truthy
from workflows.services.core.state import ExecutionState, StepRun, StepStatus
from workflows.services.core.templates import parse_condition

if TYPE_CHECKING:
    from collections.abc import Sequence

    from workflows.services.core.compiled import CompiledStep, CompiledWorkflow
    from workflows.services.core.definition import Step, WorkflowDefinition

__all__ = ["loop_groups", "loop_issues", "repeat"]

Loc = tuple[str | int, ...]


class LoopRun(Protocol):
    """What `repeat` uses of the engine's run object (`workflows.services.core.engine.Run`,
    which calls it: the engine imports this module, not the other way round)."""

    wf: CompiledWorkflow
    state: ExecutionState

    def context(self) -> dict[str, Any]: ...
    def fail_step(self, cs: CompiledStep, run: StepRun, type_: str, message: str) -> None: ...
    def touch(self, step_id: str) -> None: ...
    def forget_context(self) -> None: ...
    def emit(
        self,
        type_: str,
        step_id: str | None = None,
        attempt: int | None = None,
        actor: dict[str, Any] | None = None,
        **data: Any,
    ) -> None: ...


def loop_groups(steps: Sequence[Step]) -> dict[str, set[str]]:
    """Step id -> the ids of the loop group(s) it belongs to (empty when in none)."""
    index_of = {step.id: index for index, step in enumerate(steps)}
    out: dict[str, set[str]] = {}
    for index, step in enumerate(steps):
        first = index_of.get(step.loop.start, index + 1) if step.loop is not None else index + 1
        group = {member.id for member in steps[first : index + 1]}
        for member in group:
            out.setdefault(member, set()).update(group)
    return out


def loop_issues(definition: WorkflowDefinition) -> list[tuple[Loc, str]]:
    index_of = {step.id: index for index, step in enumerate(definition.steps)}
    issues: list[tuple[Loc, str]] = []
    for index, step in enumerate(definition.steps):
        if step.loop is None:
            continue
        where: Loc = ("steps", index, "loop")
        first = index_of.get(step.loop.start)
        if first is None:
            issues.append(((*where, "from"), f"unknown step '{step.loop.start}'"))
        elif first > index:
            issues.append(
                ((*where, "from"), f"the loop must start at '{step.id}' or a step before it")
            )
        if definition.parallelism != "sequential":
            issues.append((where, "loops need parallelism: sequential"))
    return issues


def repeat(active: LoopRun, cs: CompiledStep) -> bool:
    """After `cs` succeeded: start the next iteration when its loop's `while` holds.

    False when the loop failed the execution (a bad `while`, or the iteration limit)."""
    loop = cs.step.loop
    if loop is None:
        return True
    state = active.state
    run = state.steps[cs.id]
    try:
        value = parse_condition(loop.while_).evaluate(active.context())
    except ExpressionError as exc:
        active.fail_step(cs, run, "ConditionError", f"steps[{cs.index}].loop.while: {exc}")
        return False
    if not truthy(value):
        return True
    if run.iteration + 1 >= loop.max_iterations:
        message = f"loop '{loop.start}'..'{cs.id}' still ran after {loop.max_iterations} iterations"
        active.fail_step(cs, run, "MaxIterationsReached", message)
        return False
    iteration = run.iteration + 1
    group = active.wf.steps[active.wf.step(loop.start).index : cs.index + 1]
    for member in group:
        again = state.steps[member.id]
        again.status = StepStatus.PENDING
        again.iteration = iteration
        again.fallback = False
        again.fallback_from_attempt = again.attempt  # retries count from here
        again.retry_due = False
        again.error = None
        again.started_at = again.finished_at = None
        active.touch(member.id)
    active.forget_context()
    active.emit(
        "loop.iteration",
        loop.start,
        iteration=iteration,
        until=cs.id,
        value=to_json_value(value),
        steps=[member.id for member in group],
    )
    return True
