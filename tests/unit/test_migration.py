"""New versions and running executions (issue 17 item 10): workflows.services.core.migration.

The plan for one execution, the resume-at-same-step transition, cancel-and-restart's two
sides, and the validation that refuses step ids that do not line up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from workflows.contracts import MigrateExecution, StartExecution, decode
from workflows.contracts.topics import Topics
from workflows.services.core.compiled import CompiledWorkflow
from workflows.services.core.engine import apply_step_result, start_execution
from workflows.services.core.loader import parse_definition_text
from workflows.services.core.migration import (
    Restart,
    alignment_issues,
    cancel_for_restart,
    migrate_execution,
    misalignment,
    plan_execution,
    resume_point,
)
from workflows.services.core.state import ExecutionState, StepStatus
from workflows.services.core.validation import compile_workflow, validate_definition
from workflows.services.orchestrator.entries import unpack
from workflows.services.orchestrator.handlers import transition_for
from workflows.services.orchestrator.outbox import outbox_entries

NOW = datetime(2030, 1, 2, tzinfo=UTC)
TOPICS = Topics.with_prefix("")


def _wf(ids: list[str], version: int, migration: str | None = None) -> CompiledWorkflow:
    raw: dict[str, Any] = {"name": "m", "steps": [{"id": i, "function": f"fn_{i}"} for i in ids]}
    if migration:
        raw["migration"] = migration
    return compile_workflow(raw, version=version)


def _at_b() -> ExecutionState:
    """An execution of v1 (a, b, c): a succeeded, b running its first attempt."""
    v1 = _wf(["a", "b", "c"], 1)
    state = start_execution(v1, "ex-1", {}, NOW).state
    apply_step_result(v1, state, "a", 1, NOW, ok=True, output={"seats": 3})
    assert state.steps["b"].status == StepStatus.RUNNING
    return state


# -- alignment --------------------------------------------------------------------------
def test_ids_in_the_same_order_line_up() -> None:
    assert misalignment(["a", "b", "c"], ["a", "x", "b", "c", "y"]) is None
    assert misalignment(["a", "b", "c"], ["b", "c"]) is None


def test_reordered_ids_do_not_line_up_and_name_the_step() -> None:
    found = misalignment(["a", "b", "c"], ["a", "c", "b"])
    assert found is not None
    index, why = found
    assert index == 1 and "'c' comes where 'b' came (after 'a')" in why


def test_no_shared_id_does_not_line_up() -> None:
    found = misalignment(["a"], ["z"])
    assert found is not None and found[0] is None and "share no step id" in found[1]


_IDS = st.lists(st.sampled_from("abcdefghij"), unique=True, max_size=10)


@given(_IDS, st.data())
def test_keeping_the_order_always_lines_up(old: list[str], data: st.DataObject) -> None:
    """Drop some old ids and insert new ones anywhere: the shared ones keep their order."""
    kept = [i for i in old if data.draw(st.booleans())]
    new = list(kept)
    for extra in data.draw(st.lists(st.sampled_from("klmnop"), unique=True)):
        new.insert(data.draw(st.integers(0, len(new))), extra)
    found = misalignment(old, new)
    assert (found is None) == bool(kept)


@given(st.lists(st.sampled_from("abcdefghij"), unique=True, min_size=2), st.data())
def test_swapping_two_shared_ids_never_lines_up(old: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(old) - 2))
    j = data.draw(st.integers(i + 1, len(old) - 1))
    new = list(old)
    new[i], new[j] = new[j], new[i]
    assert misalignment(old, new) is not None


def test_validation_refuses_reordered_steps_at_the_step_with_line_and_column() -> None:
    text = (
        "name: m\n"
        "migration: resume-at-same-step\n"
        "steps:\n"
        "  - id: a\n    function: fn_a\n"
        "  - id: c\n    function: fn_c\n"
        "  - id: b\n    function: fn_b\n"
    )
    parsed = parse_definition_text(text)
    new = compile_workflow(parsed.data, parsed, version=2)
    [issue] = alignment_issues(_wf(["a", "b", "c"], 1), new, parsed)
    assert issue.path == "steps[1].id"
    assert (issue.line, issue.column) == (6, 9)
    assert "do not line up with version 1" in issue.message
    # the other policies do not care about step ids
    other = compile_workflow({**parsed.data, "migration": "cancel-and-restart"}, version=2)
    assert alignment_issues(_wf(["a", "b", "c"], 1), other) == []


def test_no_shared_step_is_refused_at_migration() -> None:
    [issue] = alignment_issues(_wf(["a"], 1), _wf(["z"], 2, "resume-at-same-step"))
    assert issue.path == "migration" and "share no step id" in issue.message


def test_an_unknown_policy_is_refused_naming_the_field() -> None:
    issues = validate_definition(
        {"name": "m", "migration": "teleport", "steps": [{"id": "a", "function": "f"}]}
    )
    assert issues and issues[0].path == "migration"
    assert "finish-current" in issues[0].message


def test_the_default_policy_is_not_stored() -> None:
    assert "migration" not in _wf(["a"], 1).definition.to_wire()
    assert _wf(["a"], 1, "cancel-and-restart").definition.to_wire()["migration"] == (
        "cancel-and-restart"
    )


# -- plans ------------------------------------------------------------------------------
def test_finish_current_keeps_the_version() -> None:
    plan = plan_execution(_at_b(), _wf(["a", "x", "b", "c"], 2))
    assert plan.policy == "finish-current" and plan.reason is None
    assert plan.line() == "ex-1 (v1): finish on v1"


def test_resume_plan_keeps_what_ran_skips_new_steps_before_and_drops_old_ones() -> None:
    state = _at_b()
    new = _wf(["a", "x", "b", "y"], 2, "resume-at-same-step")  # c gone, x and y new
    assert resume_point(state, new) == "b"
    plan = plan_execution(state, new)
    assert plan.wire() == {
        "executionId": "ex-1",
        "fromVersion": 1,
        "toVersion": 2,
        "policy": "resume-at-same-step",
        "resumeAt": "b",
        "kept": ["a"],
        "skipped": ["x"],
        "dropped": ["c"],
    }
    assert plan.line() == "ex-1 (v1): resume at b on v2; keep a; skip x; drop c"


def test_resume_falls_back_to_finish_current_with_a_reason() -> None:
    state = _at_b()
    reordered = _wf(["b", "a", "c"], 2, "resume-at-same-step")
    assert "do not line up" in (plan_execution(state, reordered).reason or "")
    state.status = state.status.COMPLETED
    assert plan_execution(state, _wf(["a", "b"], 2, "resume-at-same-step")).reason == (
        "it has ended"
    )


def test_cancel_and_restart_plan_names_the_new_execution() -> None:
    plan = plan_execution(_at_b(), _wf(["a", "b"], 3, "cancel-and-restart"))
    assert plan.wire()["restartedAs"] == "ex-1-v3"
    assert plan.line() == "ex-1 (v1): cancel, restart as ex-1-v3 on v3"


# -- resume-at-same-step transition -------------------------------------------------------
def test_resume_switches_version_keeps_outputs_and_goes_on_on_the_new_steps() -> None:
    state = _at_b()
    new = _wf(["a", "x", "b", "y"], 2, "resume-at-same-step")
    later = NOW + timedelta(seconds=5)
    moved = migrate_execution(new, state, later, {"kind": "api", "id": "k1"})
    assert not moved.duplicate
    state = moved.state
    assert state.workflow_version == 2
    assert state.migration == {
        "from": 1,
        "to": 2,
        "policy": "resume-at-same-step",
        "resumeAt": "b",
    }
    assert list(state.steps) == ["a", "x", "b", "y"]
    assert state.steps["a"].output == {"seats": 3} and state.steps["a"].attempt == 1
    assert state.steps["x"].status == StepStatus.SKIPPED
    assert state.steps["b"].status == StepStatus.RUNNING and state.steps["b"].attempt == 1
    migrated = [e for e in moved.events if e.type == "execution.migrated"]
    assert migrated[0].data["from"] == 1 and migrated[0].data["resumeAt"] == "b"
    assert moved.dispatches == []  # b's attempt is still out: its result counts
    # b's result applies on v2: y (new) runs, not c (gone)
    after_b = apply_step_result(new, state, "b", 1, later, ok=True, output={})
    assert [d.step_id for d in after_b.dispatches] == ["y"]
    done = apply_step_result(new, state, "y", 1, later, ok=True, output={"ok": True})
    assert done.state.status.value == "completed" and done.state.output == {"ok": True}


def test_a_result_of_a_dropped_step_changes_nothing() -> None:
    v1 = _wf(["a", "b", "c"], 1)
    state = start_execution(v1, "ex-1", {}, NOW).state  # a running
    new = _wf(["b", "c"], 2, "resume-at-same-step")
    moved = migrate_execution(new, state, NOW, None)
    assert [d.step_id for d in moved.dispatches] == ["b"]  # a is gone: b is first
    assert apply_step_result(new, state, "a", 1, NOW, ok=True).duplicate


def test_migrating_twice_is_a_duplicate() -> None:
    state = _at_b()
    new = _wf(["a", "b", "c"], 2, "resume-at-same-step")
    assert not migrate_execution(new, state, NOW, None).duplicate
    assert migrate_execution(new, state, NOW, None).duplicate
    # nor does an older version's control move it back
    assert migrate_execution(_wf(["a", "b"], 1), state, NOW, None).duplicate


def test_a_migration_that_no_longer_applies_is_recorded_once() -> None:
    state = _at_b()
    reordered = _wf(["c", "b", "a"], 2, "resume-at-same-step")
    first = migrate_execution(reordered, state, NOW, None)
    assert [e.type for e in first.events] == ["execution.migration_skipped"]
    assert state.workflow_version == 1
    assert migrate_execution(reordered, state, NOW, None).duplicate


# -- cancel-and-restart -----------------------------------------------------------------
def test_cancel_and_restart_cancels_links_and_starts_the_new_version() -> None:
    state = _at_b()
    state.priority = 4
    old = _wf(["a", "b", "c"], 1)
    cancelled = cancel_for_restart(old, state, 2, NOW, {"kind": "api"})
    assert cancelled.state.status.value == "cancelled"
    assert "restarted as ex-1-v2" in (cancelled.state.error or {})["message"]
    assert state.migration == {
        "from": 1,
        "to": 2,
        "policy": "cancel-and-restart",
        "restartedAs": "ex-1-v2",
    }
    assert [e.type for e in cancelled.events] == ["execution.migrated", "execution.cancelled"]
    assert cancelled.effects == [Restart("ex-1-v2", "ex-1", 1, 2)]
    starts = [
        decode(StartExecution, e[3].encode())
        for e in (unpack(x) for x in outbox_entries(cancelled, TOPICS))
        if e[0] == "msg" and e[1] == TOPICS.start
    ]
    [start] = starts
    assert (start.execution_id, start.workflow_version, start.priority) == ("ex-1-v2", 2, 4)
    assert start.migrated_from is not None and start.migrated_from.execution_id == "ex-1"
    # replayed: nothing again
    assert cancel_for_restart(old, state, 2, NOW, None).duplicate
    # the new side: its audit names the execution it replaces
    new = _wf(["a", "b"], 2, "cancel-and-restart")
    started = transition_for(start, new, None, now=NOW)
    assert started.state.migration == {
        "from": 1,
        "to": 2,
        "policy": "cancel-and-restart",
        "restartedFrom": "ex-1",
    }
    assert [e.type for e in started.events][-1] == "execution.migrated"
    assert [d.step_id for d in started.dispatches] == ["a"]  # from the start


def test_the_control_message_round_trips() -> None:
    command = MigrateExecution(
        execution_id="ex-1", to_version=2, policy="resume-at-same-step", actor={"kind": "api"}
    )
    state = _at_b()
    moved = transition_for(command, _wf(["a", "b", "c"], 2, "resume-at-same-step"), state)
    assert moved.state.workflow_version == 2
