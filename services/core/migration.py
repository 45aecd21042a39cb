"""What a new version of a workflow does to its executions in flight (pure: no I/O).

A definition declares `migration` (`workflows.services.core.definition.MIGRATION_POLICIES`):

- `finish-current` (the default): executions keep the version they started with;
- `cancel-and-restart`: each is cancelled and started again on the new version, with the
  same input, as `<id>-v<version>` (both audit trails name the other);
- `resume-at-same-step`: each switches to the new version and goes on from the first step
  id the two versions share that has not run yet (`resume_point`). Steps that ran keep
  their outputs, a step still running keeps its attempt (its result counts), steps only
  the new version has that come before that point are skipped, steps only the old one
  had are dropped. The shared step ids must come in the same order in both versions
  (`misalignment`); registration refuses the definition otherwise.

`plan_execution` says what will happen to one execution (the registration response lists
it, `workflows migrate-plan` prints it); `migrate_execution` is the orchestrator's
transition for a `MigrateExecution` control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.services.core import engine
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.issues import ValidationIssue, format_path
from workflows.services.core.loader import ParsedText
from workflows.services.core.state import (
    DONE_STEP,
    AuditEntry,
    ExecutionState,
    ExecutionStatus,
    StepRun,
    StepStatus,
)

__all__ = [
    "MIGRATED",
    "MIGRATION_SKIPPED",
    "ExecutionPlan",
    "Restart",
    "alignment_issues",
    "cancel_for_restart",
    "mark_restarted",
    "migrate_execution",
    "misalignment",
    "plan_execution",
    "restart_id",
    "resume_point",
]

MIGRATED = "execution.migrated"
MIGRATION_SKIPPED = "execution.migration_skipped"
FINISH_CURRENT = "finish-current"
CANCEL_AND_RESTART = "cancel-and-restart"
RESUME_AT_SAME_STEP = "resume-at-same-step"


def misalignment(old_ids: Sequence[str], new_ids: Sequence[str]) -> tuple[int | None, str] | None:
    """Why the old step ids do not line up with the new ones, as (index of the new step to
    blame, None for the whole definition; what is wrong), or None when they do: they share
    at least one id, and the shared ids come in the same order in both."""
    old_set, new_set = set(old_ids), set(new_ids)
    shared_old = [i for i in old_ids if i in new_set]
    if not shared_old:
        return None, "they share no step id, so there is no step to resume at"
    shared_new = [i for i in new_ids if i in old_set]
    for position, (was, now) in enumerate(zip(shared_old, shared_new, strict=True)):
        if was != now:
            after = f"after '{shared_old[position - 1]}'" if position else "first"
            return (
                list(new_ids).index(now),
                f"step '{now}' comes where '{was}' came ({after}); shared step ids must keep "
                "their order",
            )
    return None


def alignment_issues(
    old: CompiledWorkflow, new: CompiledWorkflow, parsed: ParsedText | None = None
) -> list[ValidationIssue]:
    """The issue refusing `new`, which declares resume-at-same-step, after version `old`:
    at the step id out of order (or at `migration`), with its line and column in `parsed`."""
    if new.definition.migration != RESUME_AT_SAME_STEP:
        return []
    found = misalignment([cs.id for cs in old.steps], [cs.id for cs in new.steps])
    if found is None:
        return []
    index, why = found
    loc: tuple[str | int, ...] = ("migration",) if index is None else ("steps", index, "id")
    message = (
        f"migration resume-at-same-step: the step ids do not line up with version "
        f"{old.version}: {why}"
    )
    line = parsed.line_of(loc) if parsed else None
    column = parsed.value_column(loc) if parsed else None
    return [ValidationIssue(format_path(loc), message, column, line)]


def resume_point(state: ExecutionState, new: CompiledWorkflow) -> str | None:
    """The first step of `new`, in its order, that `state` also has and has not done."""
    for cs in new.steps:
        run = state.steps.get(cs.id)
        if run is not None and run.status not in DONE_STEP:
            return cs.id
    return None


def restart_id(execution_id: str, version: int) -> str:
    """The id of the execution that restarts `execution_id` on `version` (deterministic:
    a replayed restart is a duplicate start)."""
    return f"{execution_id}-v{version}"


@dataclass(frozen=True, slots=True)
class Restart:
    """Effect of cancel-and-restart: start `execution_id` on `version` with the old one's
    input (the orchestrator's outbox turns it into a StartExecution)."""

    execution_id: str
    restarted_from: str
    from_version: int
    version: int


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """What registering version `to_version` does to one execution in flight."""

    execution_id: str
    from_version: int
    to_version: int
    policy: str  # what will happen (finish-current when the declared one cannot apply)
    resume_at: str | None = None
    kept: tuple[str, ...] = ()  # steps that ran: their outputs carry over
    skipped: tuple[str, ...] = ()  # new steps before the resume point
    dropped: tuple[str, ...] = ()  # steps the new version does not have
    restarted_as: str | None = None
    reason: str | None = None  # why the declared policy does not apply
    steps: dict[str, StepRun] = field(default_factory=dict, compare=False, repr=False)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionId": self.execution_id,
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "policy": self.policy,
        }
        if self.policy == RESUME_AT_SAME_STEP:
            out.update(
                resumeAt=self.resume_at,
                kept=list(self.kept),
                skipped=list(self.skipped),
                dropped=list(self.dropped),
            )
        if self.restarted_as is not None:
            out["restartedAs"] = self.restarted_as
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    def line(self) -> str:
        """One line for people: what happens to the execution."""
        head = f"{self.execution_id} (v{self.from_version})"
        if self.policy == CANCEL_AND_RESTART:
            return f"{head}: cancel, restart as {self.restarted_as} on v{self.to_version}"
        if self.policy == RESUME_AT_SAME_STEP:
            parts = [f"resume at {self.resume_at} on v{self.to_version}"]
            for label, ids in (("keep", self.kept), ("skip", self.skipped)):
                if ids:
                    parts.append(f"{label} {', '.join(ids)}")
            if self.dropped:
                parts.append(f"drop {', '.join(self.dropped)}")
            return f"{head}: " + "; ".join(parts)
        why = f" ({self.reason})" if self.reason else ""
        return f"{head}: finish on v{self.from_version}{why}"


def plan_execution(state: ExecutionState, new: CompiledWorkflow) -> ExecutionPlan:
    """What `new` (its declared `migration`) does to `state`, an execution of an earlier
    version; `steps` holds the migrated step runs for resume-at-same-step."""
    policy = new.definition.migration
    base: dict[str, Any] = {
        "execution_id": state.execution_id,
        "from_version": state.workflow_version,
        "to_version": new.version,
    }

    def finish(reason: str | None = None) -> ExecutionPlan:
        return ExecutionPlan(policy=FINISH_CURRENT, reason=reason, **base)

    if state.terminal:
        return finish("it has ended")
    if state.workflow_version >= new.version:
        return finish(f"it runs version {state.workflow_version} already")
    if policy == CANCEL_AND_RESTART:
        return ExecutionPlan(
            policy=CANCEL_AND_RESTART,
            restarted_as=restart_id(state.execution_id, new.version),
            **base,
        )
    if policy != RESUME_AT_SAME_STEP:
        return finish()
    if state.compensation is not None:
        return finish("it is compensating")
    found = misalignment(list(state.steps), [cs.id for cs in new.steps])
    if found is not None:
        return finish(f"its step ids do not line up with version {new.version}: {found[1]}")
    resume = resume_point(state, new)
    if resume is None:
        return finish(f"every step it shares with version {new.version} has run")
    at = new.by_id[resume].index
    steps: dict[str, StepRun] = {}
    kept, skipped = [], []
    for cs in new.steps:
        old = state.steps.get(cs.id)
        if old is not None:
            steps[cs.id] = old.model_copy()
            if old.status in DONE_STEP:
                kept.append(cs.id)
        elif cs.index < at:
            steps[cs.id] = StepRun(status=StepStatus.SKIPPED)
            skipped.append(cs.id)
        else:
            steps[cs.id] = StepRun()
    dropped = tuple(step_id for step_id in state.steps if step_id not in new.by_id)
    return ExecutionPlan(
        policy=RESUME_AT_SAME_STEP,
        resume_at=resume,
        kept=tuple(kept),
        skipped=tuple(skipped),
        dropped=dropped,
        steps=steps,
        **base,
    )


def _versions(from_version: int, to_version: int) -> dict[str, Any]:
    return {"from": from_version, "to": to_version}


def _recorded(state: ExecutionState, to_version: int) -> bool:
    """A migration to `to_version` (or later) was applied or skipped already."""
    if state.migration is not None and int(state.migration.get("to", 0)) >= to_version:
        return True
    return any(
        entry.type == MIGRATION_SKIPPED and int(entry.data.get("to", 0)) >= to_version
        for entry in reversed(state.history)
    )


def migrate_execution(
    new: CompiledWorkflow,
    state: ExecutionState,
    now: datetime,
    actor: dict[str, Any] | None = None,
) -> engine.Transition:
    """Switch `state` to version `new` and go on from its resume point (resume-at-same-step);
    when that cannot apply any more (the execution moved on since the plan), record why and
    keep its version. A replay, or a control for a version it has passed, changes nothing."""
    if state.terminal or state.workflow_version >= new.version or _recorded(state, new.version):
        return engine.Transition(state, duplicate=True)
    plan = plan_execution(state, new)
    active = engine.Run(new, state, now, actor)
    if plan.policy != RESUME_AT_SAME_STEP:
        active.emit(
            MIGRATION_SKIPPED,
            **_versions(state.workflow_version, new.version),
            policy=new.definition.migration,
            reason=plan.reason,
        )
        return active.result()
    state.workflow_version = new.version
    state.steps = plan.steps
    state.migration = {
        "from": plan.from_version,
        "to": plan.to_version,
        "policy": RESUME_AT_SAME_STEP,
        "resumeAt": plan.resume_at,
    }
    active.forget_context()
    active.emit(
        MIGRATED,
        **_versions(plan.from_version, plan.to_version),
        policy=RESUME_AT_SAME_STEP,
        resumeAt=plan.resume_at,
        kept=list(plan.kept),
        skipped=list(plan.skipped),
        dropped=list(plan.dropped),
    )
    for step_id in plan.skipped:
        state.steps[step_id].finished_at = now
        active.emit(
            "step.skipped",
            step_id,
            condition=None,
            value=None,
            reason=f"added by version {new.version} before the step migrated to",
        )
    active.advance(everything=True)
    return active.result()


def cancel_for_restart(
    old: CompiledWorkflow,
    state: ExecutionState,
    to_version: int,
    now: datetime,
    actor: dict[str, Any] | None = None,
) -> engine.Transition:
    """Cancel-and-restart, the old side: record the link, then cancel. The caller starts
    `restart_id(...)` on `to_version` (a duplicate start when replayed)."""
    if state.terminal or state.workflow_version >= to_version or _recorded(state, to_version):
        return engine.Transition(state, duplicate=True)
    new_id = restart_id(state.execution_id, to_version)
    active = engine.Run(old, state, now, actor)
    link: dict[str, Any] = {
        "from": state.workflow_version,
        "to": to_version,
        "policy": CANCEL_AND_RESTART,
    }
    state.migration = {**link, "restartedAs": new_id}
    active.emit(MIGRATED, **link, restartedAs=new_id)
    reason = f"restarted as {new_id} on version {to_version} (migration cancel-and-restart)"
    active.finish(ExecutionStatus.CANCELLED, {"type": "Cancelled", "message": reason}, actor)
    active.out.effects.append(Restart(new_id, state.execution_id, link["from"], to_version))
    return active.result()


def mark_restarted(
    transition: engine.Transition, restarted_from: str, from_version: int, now: datetime
) -> None:
    """Cancel-and-restart, the new side: the started execution names the one it replaces."""
    state = transition.state
    link: dict[str, Any] = {
        "from": from_version,
        "to": state.workflow_version,
        "policy": CANCEL_AND_RESTART,
    }
    state.migration = {**link, "restartedFrom": restarted_from}
    entry = AuditEntry(
        seq=len(state.history) + 1,
        at=now,
        type=MIGRATED,
        actor=state.actor,
        data={**link, "restartedFrom": restarted_from},
    )
    state.history.append(entry)
    transition.events.append(entry)


def simulate_migration(
    old: CompiledWorkflow,
    new: CompiledWorkflow,
    input_: dict[str, Any],
    done: Sequence[str],
    mocks: dict[str, Any],
    now: datetime,
) -> ExecutionPlan:
    """`workflows simulate OLD --migrate-to NEW --done a,b`: an execution of `old` whose
    steps `done` succeeded (outputs from `mocks`, else {}) and whose next steps are running,
    and what registering `new` (its declared `migration`) does to it."""
    transition = engine.start_execution(old, "simulation", input_, now)
    state, wanted = transition.state, set(done)
    pending = [d for d in transition.dispatches if d.step_id in wanted]
    while pending and not state.terminal:
        dispatch = pending.pop(0)
        output = mocks.get(dispatch.step_id, {})
        step = engine.apply_step_result(
            old, state, dispatch.step_id, dispatch.attempt, now, ok=True, output=output
        )
        pending += [d for d in step.dispatches if d.step_id in wanted]
    return plan_execution(state, new)
