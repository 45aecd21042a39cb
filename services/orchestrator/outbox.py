"""Turn a transition into outbox entries: step commands, lifecycle events, timers, index rows.

Every lifecycle event is also written to the audit topic (same record, keyed by execution
id, so one execution's entries stay in order). A transition that ends the execution adds a
`kpi` entry: the outcome sample (status, duration, KPIs) recorded for the workflow's
aggregates, idempotently (the member is deterministic, so a re-flush changes nothing).
"""

from __future__ import annotations

import json
from typing import Any

from workflows.contracts import LifecycleEvent, StepCommand, command_id, encode
from workflows.contracts.topics import Topics
from workflows.services.core.engine import Transition
from workflows.services.core.state import ExecutionState
from workflows.services.orchestrator.entries import pack
from workflows.services.orchestrator.signals import child_start_entry, extra_entries

__all__ = ["outbox_entries", "outcome_sample", "timer_member"]

TERMINAL_EVENTS = frozenset(
    {"execution.completed", "execution.failed", "execution.cancelled", "execution.timed_out"}
)


def timer_member(execution_id: str, kind: str, step_id: str, attempt: int) -> str:
    return f"{execution_id}|{kind}|{step_id}|{attempt}"


def _ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def outcome_sample(state: ExecutionState) -> str:
    """The aggregate sample of an ended execution (deterministic JSON: replays are no-ops)."""
    took = (state.finished_at or state.updated_at) - state.created_at
    sample = {
        "id": state.execution_id,
        "version": state.workflow_version,
        "status": state.status.value,
        "durationMs": int(took.total_seconds() * 1000),
        "kpis": state.kpis,
    }
    return json.dumps(sample, sort_keys=True, separators=(",", ":"))


def outbox_entries(transition: Transition, topics: Topics, new: bool = False) -> list[str]:
    state = transition.state
    eid = state.execution_id
    entries: list[list[Any]] = []
    if new:
        entries.append(["index", eid, _ms(state.created_at)])
    for dispatch in transition.dispatches:
        if dispatch.function.startswith("workflow:"):  # a child workflow: start it
            entries.append(child_start_entry(state, dispatch, topics))
            continue
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
            priority=state.priority,
        )
        msg: list[Any] = ["msg", topics.step_commands, eid, encode(command).decode()]
        if state.trace_context:  # the attempt's span joins the execution's trace
            msg.append(state.trace_context)
        entries.append(msg)
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
        # the one record of this entry: the events topic is also the audit feed
        entries.append(["msg", topics.events, eid, encode(event).decode()])
        if entry.type in TERMINAL_EVENTS:
            entries.append(["kpi", state.workflow, outcome_sample(state), _ms(entry.at)])
    entries.extend(extra_entries(transition, topics))  # waits, child results, child cancels
    return [pack(e) for e in entries]
