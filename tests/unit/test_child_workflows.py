"""Child workflows in the pure core and the orchestrator's outbox rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.contracts import CancelExecution, StartExecution, StepResult, decode, decode_control
from workflows.contracts.topics import Topics
from workflows.services.core.children import CancelChild
from workflows.services.core.engine import apply_step_result, cancel_execution, start_execution
from workflows.services.core.issues import DefinitionError
from workflows.services.core.simulate import simulate
from workflows.services.core.state import ExecutionStatus
from workflows.services.core.validation import compile_workflow
from workflows.services.orchestrator.entries import unpack
from workflows.services.orchestrator.outbox import outbox_entries

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOPICS = Topics.with_prefix("")
PARENT = compile_workflow(
    {
        "name": "parent",
        "steps": [
            {"id": "child", "function": "workflow:kid", "input": {"n": "{{input.n}}"}},
            {"id": "use", "function": "f", "input": {"got": "{{child.total}}"}},
        ],
    }
)
KID = compile_workflow({"name": "kid", "steps": [{"id": "k", "function": "g"}]})


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def messages(transition: Any, new: bool = False) -> list[list[Any]]:
    return [unpack(e) for e in outbox_entries(transition, TOPICS, new=new)]


def test_child_step_starts_a_child_execution_instead_of_a_step_command() -> None:
    t = start_execution(PARENT, "p1", {"n": 2}, T0)
    [d] = t.dispatches
    assert (d.function, d.input) == ("workflow:kid", {"n": 2})
    sent = [m for m in messages(t, new=True) if m[0] == "msg"]
    topics = [m[1] for m in sent]
    assert TOPICS.step_commands not in topics
    [start] = [m for m in sent if m[1] == TOPICS.start]
    message = decode(StartExecution, start[3].encode())
    assert start[2] == message.execution_id == "p1-child-1"
    assert message.workflow == "kid" and message.input == {"n": 2}
    assert message.parent is not None and message.parent.execution_id == "p1"


def test_child_end_reports_to_the_parent_and_the_parent_continues() -> None:
    child = start_execution(KID, "p1-child-1", {"n": 2}, T0)
    child.state.parent = {"executionId": "p1", "stepId": "child", "attempt": 1}
    t = apply_step_result(KID, child.state, "k", 1, at(1), ok=True, output={"total": 4})
    [result] = [m for m in messages(t) if m[0] == "msg" and m[1] == TOPICS.step_results]
    message = decode(StepResult, result[3].encode())
    assert result[2] == "p1" and message.ok and message.output == {"total": 4}
    assert (message.step_id, message.attempt, message.command_id) == ("child", 1, "p1:child:1")
    parent = start_execution(PARENT, "p1", {"n": 2}, T0).state
    t = apply_step_result(PARENT, parent, "child", 1, at(2), ok=True, output=message.output)
    assert t.dispatches[0].input == {"got": 4}


def test_failed_child_fails_the_parent_step() -> None:
    child = start_execution(KID, "p1-child-1", {}, T0)
    child.state.parent = {"executionId": "p1", "stepId": "child", "attempt": 1}
    t = apply_step_result(
        KID, child.state, "k", 1, at(1), ok=False, error={"type": "E", "message": "no"}
    )
    [result] = [m for m in messages(t) if m[1] == TOPICS.step_results]
    message = decode(StepResult, result[3].encode())
    assert not message.ok and message.error is not None
    assert message.error.type == "ChildWorkflowFailed" and "no" in message.error.message


def test_cancelling_the_parent_cancels_running_children() -> None:
    parent = start_execution(PARENT, "p1", {"n": 1}, T0).state
    t = cancel_execution(PARENT, parent, at(5), "stop")
    assert t.effects == [CancelChild("p1-child-1", "the parent execution cancelled")]
    [cancel] = [m for m in messages(t) if m[1] == TOPICS.control]
    message = decode_control(cancel[3].encode())
    assert isinstance(message, CancelExecution) and message.execution_id == "p1-child-1"
    assert parent.status == ExecutionStatus.CANCELLED


def test_child_input_must_be_an_object_and_names_are_checked() -> None:
    w = compile_workflow(
        {"name": "p", "steps": [{"id": "c", "function": "workflow:kid", "input": "x"}]}
    )
    assert start_execution(w, "p1", {}, T0).state.error["type"] == "InvalidChildInput"  # type: ignore[index]
    with pytest.raises(DefinitionError):
        compile_workflow({"name": "p", "steps": [{"id": "c", "function": "workflow:"}]})
    with pytest.raises(DefinitionError, match="cannot start itself"):
        compile_workflow({"name": "p", "steps": [{"id": "c", "function": "workflow:p"}]})


def test_simulate_mocks_a_child_by_step_id() -> None:
    result = simulate(PARENT, {"n": 1}, mocks={"child": {"total": 9}})
    assert result.state.status == ExecutionStatus.COMPLETED
    assert result.state.steps["use"].input == {"got": 9}
