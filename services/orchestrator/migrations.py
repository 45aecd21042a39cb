"""The orchestrator's side of `workflows.services.core.migration`: which definition version a
`MigrateExecution` applies with, its transition, and the restart it may cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.contracts import Actor, MigratedFrom, MigrateExecution, StartExecution, encode
from workflows.contracts.topics import Topics
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import Transition
from workflows.services.core.migration import (
    Restart,
    cancel_for_restart,
    mark_restarted,
    migrate_execution,
)
from workflows.services.core.state import ExecutionState

__all__ = ["definition_version", "migration_transition", "restart_entry", "restarted"]


def definition_version(message: Any, state: ExecutionState) -> int:
    """The version to apply `message` with: the target of a resume-at-same-step migration
    (the execution moves onto it), else the execution's own."""
    if isinstance(message, MigrateExecution) and message.policy == "resume-at-same-step":
        return max(message.to_version, state.workflow_version)
    return state.workflow_version


def migration_transition(
    message: MigrateExecution,
    wf: CompiledWorkflow,
    state: ExecutionState,
    now: datetime,
    actor: dict[str, Any] | None,
) -> Transition:
    if message.policy == "resume-at-same-step":
        if wf.version != message.to_version:  # it is on a later version already
            return Transition(state, duplicate=True)
        return migrate_execution(wf, state, now, actor)
    return cancel_for_restart(wf, state, message.to_version, now, actor)


def restarted(transition: Transition, start: StartExecution, now: datetime) -> None:
    """A restart's start: link the new execution to the one it replaces."""
    if start.migrated_from is not None:
        origin = start.migrated_from
        mark_restarted(transition, origin.execution_id, origin.workflow_version, now)


def restart_entry(effect: Restart, state: ExecutionState, topics: Topics) -> list[Any]:
    """The StartExecution of a cancel-and-restart (a `msg` outbox entry): same input,
    notifications and priority, pinned to the new version."""
    start = StartExecution(
        execution_id=effect.execution_id,
        workflow=state.workflow,
        workflow_version=effect.version,
        input=state.input,
        actor=Actor(kind="system", id=f"migration:{effect.restarted_from}"),
        notifications=state.notifications,
        priority=state.priority,
        migrated_from=MigratedFrom(
            execution_id=effect.restarted_from, workflow_version=effect.from_version
        ),
    )
    return ["msg", topics.start, effect.execution_id, encode(start).decode()]
