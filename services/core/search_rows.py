"""An execution's index columns: built-in ones and its search attributes (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows.services.core.namespaces import unqualify
from workflows.services.core.search_attributes import SearchAttribute, attribute_value
from workflows.services.core.state import ExecutionState, StepStatus

__all__ = ["index_values"]


def _context(state: ExecutionState) -> dict[str, Any]:
    """What attribute templates read: input, execution, succeeded step outputs."""
    ctx: dict[str, Any] = {
        "input": state.input,
        "execution": {
            "id": state.execution_id,
            "workflow": state.workflow,
            "version": state.workflow_version,
            "startedAt": state.created_at.isoformat(),
            "status": state.status.value,
        },
    }
    for step_id, run in state.steps.items():
        if run.status == StepStatus.SUCCEEDED:
            ctx[step_id] = run.output
    return ctx


def index_values(
    state: ExecutionState, attributes: Mapping[str, SearchAttribute]
) -> tuple[dict[str, str], dict[str, float]]:
    """(keyword columns, number/time columns as float) of an execution: the built-in ones
    (workflow as its namespace sees it, status, version, endedAt) and its attributes."""
    keywords = {"workflow": unqualify(state.workflow), "status": state.status.value}
    scores: dict[str, float] = {"version": float(state.workflow_version)}
    if state.finished_at is not None:
        scores["endedAt"] = float(int(state.finished_at.timestamp() * 1000))
    if attributes:
        ctx = _context(state)
        for name, attribute in attributes.items():
            value = attribute_value(attribute, ctx)
            if isinstance(value, str):
                keywords[name] = value
            elif value is not None:
                scores[name] = value
    return keywords, scores
