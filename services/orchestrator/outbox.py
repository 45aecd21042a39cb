"""Turn a transition into outbox entries: step commands, lifecycle events, timers, index rows."""

from __future__ import annotations

import json
from typing import Any

from contracts import LifecycleEvent, StepCommand, command_id, encode
from contracts.topics import Topics
from services.core.engine import Transition

__all__ = ["outbox_entries", "timer_member"]


def timer_member(execution_id: str, kind: str, step_id: str, attempt: int) -> str:
    return f"{execution_id}|{kind}|{step_id}|{attempt}"


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def outbox_entries(transition: Transition, topics: Topics, new: bool = False) -> list[str]:
    state = transition.state
    eid = state.execution_id
    entries: list[list[Any]] = []
    if new:
        entries.append(["index", eid, _ms(state.created_at)])
    for dispatch in transition.dispatches:
        cid = command_id(eid, dispatch.step_id, dispatch.attempt)
        command = StepCommand(
            execution_id=eid,
            command_id=cid,
            workflow=state.workflow,
            workflow_version=state.workflow_version,
            step_id=dispatch.step_id,
            function=dispatch.function,
            input=dispatch.input,
            attempt=dispatch.attempt,
            deadline=dispatch.deadline,
            idempotency_key=cid,
        )
        entries.append(["msg", topics.step_commands, eid, encode(command).decode()])
    for timer in transition.timers:
        member = timer_member(eid, timer.kind, timer.step_id, timer.attempt)
        entries.append(["timer", member, _ms(timer.due_at)])
    for entry in transition.events:
        event = LifecycleEvent(
            execution_id=eid,
            occurred_at=entry.at,
            type=entry.type,
            workflow=state.workflow,
            workflow_version=state.workflow_version,
            step_id=entry.step_id,
            attempt=entry.attempt,
            status=state.status.value,
            data=entry.data,
            actor=entry.actor,
        )
        entries.append(["msg", topics.events, eid, encode(event).decode()])
    return [json.dumps(e, separators=(",", ":")) for e in entries]
