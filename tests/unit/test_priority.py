"""Priority (issue 17 item 9): a definition's or a start request's `priority` is carried by
every step command of the execution (and by a retry of it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from workflows.contracts import StartExecution, StepCommand, decode
from workflows.contracts.topics import Topics
from workflows.services.core.engine import start_execution
from workflows.services.core.validation import compile_workflow, validate_definition
from workflows.services.orchestrator.entries import unpack
from workflows.services.orchestrator.outbox import outbox_entries

NOW = datetime(2030, 1, 2, tzinfo=UTC)
TOPICS = Topics.with_prefix("")


def _definition(**extra: Any) -> dict[str, Any]:
    return {"name": "prio", "steps": [{"id": "a", "function": "f"}], **extra}


def _commands(raw: dict[str, Any], priority: int | None = None) -> list[StepCommand]:
    started = start_execution(compile_workflow(raw), "ex-1", {}, NOW, priority=priority)
    entries = [unpack(e) for e in outbox_entries(started, TOPICS, new=True)]
    return [
        decode(StepCommand, e[3].encode())
        for e in entries
        if e[0] == "msg" and e[1] == TOPICS.step_commands
    ]


def test_commands_carry_the_definition_priority() -> None:
    assert [c.priority for c in _commands(_definition(priority=7))] == [7]
    assert [c.priority for c in _commands(_definition())] == [0]


def test_a_start_request_priority_wins_over_the_definition() -> None:
    assert [c.priority for c in _commands(_definition(priority=7), priority=-3)] == [-3]


def test_priority_out_of_range_is_refused_with_its_path() -> None:
    issues = validate_definition(_definition(priority=5000))
    assert issues and "priority" in str(issues[0])


def test_the_start_contract_bounds_priority() -> None:
    base: dict[str, Any] = {"executionId": "ex-1", "workflow": "w", "actor": {"kind": "system"}}
    assert StartExecution.model_validate({**base, "priority": 9}).priority == 9
    assert StartExecution.model_validate(base).priority is None
    with pytest.raises(ValidationError):
        StartExecution.model_validate({**base, "priority": 1001})
