"""Registering a new version: check it against the previous one, find the executions in
flight (the search index: `workflow = X AND status IN (running, paused) AND version < N`),
plan what happens to each (`workflows.services.core.migration`) and send the `MigrateExecution`
controls that carry the plan out."""

from __future__ import annotations

import json
from typing import Literal

from workflows.contracts import Actor, MigrateExecution, encode
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.issues import ValidationIssue
from workflows.services.core.loader import ParsedText
from workflows.services.core.migration import ExecutionPlan, alignment_issues, plan_execution
from workflows.services.core.namespaces import unqualify
from workflows.services.core.search_attributes import BUILTIN_COLUMNS
from workflows.services.core.search_query import parse_query
from workflows.services.core.state import ExecutionState
from workflows.services.core.validation import compile_workflow
from workflows.services.infra.kafka import Bus
from workflows.services.infra.store import StateStore

__all__ = ["MAX_PLANNED", "check_against_latest", "in_flight", "migrate_in_flight"]

MAX_PLANNED = 10_000  # executions one registration moves; the rest finish on their version
PAGE = 500


async def _compiled(store: StateStore, stored: str, version: int | None) -> CompiledWorkflow | None:
    found = await store.get_definition(stored, version)
    if found is None:
        return None
    number, doc = found
    return compile_workflow(json.loads(doc), version=number)


async def check_against_latest(
    store: StateStore, stored: str, compiled: CompiledWorkflow, parsed: ParsedText | None
) -> list[ValidationIssue]:
    """Why `compiled` cannot follow the latest registered version: it declares
    resume-at-same-step and its step ids do not line up with that version's."""
    if compiled.definition.migration != "resume-at-same-step":
        return []
    latest = await _compiled(store, stored, None)
    return alignment_issues(latest, compiled, parsed) if latest is not None else []


async def in_flight(
    store: StateStore, namespace: str, stored: str, below: int
) -> list[ExecutionState]:
    """Running or paused executions of `stored` on a version before `below`."""
    index = store.search
    await index.purge(namespace)
    text = (
        f"workflow = '{unqualify(stored)}' AND status IN ('running', 'paused') "
        f"AND version < {below}"
    )
    query = parse_query(text, BUILTIN_COLUMNS)
    found: list[ExecutionState] = []
    cursor: str | None = None
    while len(found) < MAX_PLANNED:
        page = await index.search(namespace, query, PAGE, cursor)
        for doc in await store.get_states(page.ids) if page.ids else []:
            if doc is None:
                continue
            state = ExecutionState.model_validate_json(doc)
            if state.workflow == stored and not state.terminal:
                found.append(state)
        cursor = page.cursor
        if cursor is None:
            break
    return found[:MAX_PLANNED]


async def migrate_in_flight(
    store: StateStore,
    bus: Bus,
    namespace: str,
    stored: str,
    version: int,
    registered_by: str,
) -> list[ExecutionPlan]:
    """Plan every execution in flight of `stored` for the just registered `version`, and
    send the controls of those that move (cancel-and-restart, resume-at-same-step)."""
    new = await _compiled(store, stored, version)
    if new is None or version < 2:
        return []
    plans = [
        plan_execution(state, new) for state in await in_flight(store, namespace, stored, version)
    ]
    actor = Actor(kind="api", id=None if registered_by == "anonymous" else registered_by)
    sent = False
    for plan in plans:
        policy: Literal["cancel-and-restart", "resume-at-same-step"]
        if plan.policy == "cancel-and-restart":
            policy = "cancel-and-restart"
        elif plan.policy == "resume-at-same-step":
            policy = "resume-at-same-step"
        else:
            continue  # finish-current: nothing to send
        command = MigrateExecution(
            execution_id=plan.execution_id, to_version=version, policy=policy, actor=actor
        )
        await bus.publish(bus.topics.control, encode(command), plan.execution_id)
        sent = True
    if sent:
        await bus.flush()
    return plans
