"""State transitions: the pure core the orchestrator and `simulate` share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from workflows.files import load_definition_file
from workflows.services.core.backoff import backoff_delay_ms
from workflows.services.core.definition import Backoff
from workflows.services.core.engine import (
    apply_step_result,
    cancel_execution,
    fire_timer,
    pause_execution,
    resume_execution,
    retry_execution,
    start_execution,
)
from workflows.services.core.state import ExecutionStatus, StepStatus
from workflows.services.core.validation import compile_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = load_definition_file(
    Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"
)
PRO = {"customerId": "c1", "plan": "professional", "industry": "health", "companySize": "medium"}
ENT = {**PRO, "plan": "enterprise"}
PLAN = {"onboardingStatus": "completed", "nextSteps": ["x"], "estimatedTimeToValue": 3}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def ok(state: Any, step: str, output: Any, ms: int = 1) -> Any:
    return apply_step_result(
        SEED, state, step, state.steps[step].attempt, at(ms), ok=True, output=output
    )


def test_start_dispatches_the_first_step_with_rendered_input() -> None:
    t = start_execution(SEED, "e1", PRO, T0)
    assert [d.step_id for d in t.dispatches] == ["accountSetup"]
    assert t.dispatches[0].input == {"customerId": "c1", "plan": "professional"}
    assert t.dispatches[0].attempt == 1
    assert [e.type for e in t.events] == ["execution.started", "step.started"]


def test_template_keeps_types_and_skipped_steps_read_as_undefined() -> None:
    t = start_execution(SEED, "e1", PRO, T0)
    s = t.state
    t = ok(s, "accountSetup", {"customerEmail": "a@b.c", "companyName": "A", "accountUrl": "u"})
    assert t.dispatches[0].input["to"] == "a@b.c"
    t = ok(s, "welcomeEmail", {})
    t = ok(s, "resourceAllocation", {"seats": 5})
    # professional/medium: both conditional steps skipped, success plan dispatched
    assert s.steps["assignAccountManager"].status == StepStatus.SKIPPED
    assert s.steps["scheduleKickoff"].status == StepStatus.SKIPPED
    assert s.steps["assignAccountManager"].condition_value is False
    assert [d.step_id for d in t.dispatches] == ["createSuccessPlan"]
    t = ok(s, "createSuccessPlan", PLAN)
    assert s.status == ExecutionStatus.COMPLETED
    assert s.output == PLAN
    assert s.progress() == {"done": 6, "total": 6, "currentSteps": []}


def test_enterprise_runs_the_conditional_steps() -> None:
    s = start_execution(SEED, "e1", ENT, T0).state
    ok(s, "accountSetup", {"customerEmail": "a@b.c"})
    ok(s, "welcomeEmail", {})
    t = ok(s, "resourceAllocation", {})
    assert [d.step_id for d in t.dispatches] == ["assignAccountManager"]
    t = ok(s, "assignAccountManager", {"email": "am@x"})
    assert t.dispatches[0].input["accountManagerEmail"] == "am@x"
    assert t.dispatches[0].input["suggestedTopics"] == [
        "Implementation timeline",
        "Success metrics",
        "Training needs",
    ]


def _to_kickoff() -> Any:
    s = start_execution(SEED, "e1", ENT, T0).state
    for step, out in [
        ("accountSetup", {"customerEmail": "a"}),
        ("welcomeEmail", {}),
        ("resourceAllocation", {}),
        ("assignAccountManager", {"email": "m"}),
    ]:
        ok(s, step, out)
    return s


def test_retries_use_exponential_backoff_then_the_fallback_takes_over() -> None:
    s = _to_kickoff()
    err = {"type": "Boom", "message": "calendar down", "retryable": True}
    t = apply_step_result(SEED, s, "scheduleKickoff", 1, at(10), ok=False, error=err)
    assert [(x.kind, x.due_at) for x in t.timers] == [("retry", at(1010))]
    assert t.dispatches == []
    t = fire_timer(SEED, s, "retry", "scheduleKickoff", 1, at(1010))
    assert t.dispatches[0].attempt == 2
    t = apply_step_result(SEED, s, "scheduleKickoff", 2, at(1020), ok=False, error=err)
    assert t.timers[0].due_at == at(3020)  # 1000 * 2**1
    fire_timer(SEED, s, "retry", "scheduleKickoff", 2, at(3020))
    t = apply_step_result(SEED, s, "scheduleKickoff", 3, at(3030), ok=False, error=err)
    assert [e.type for e in t.events] == ["step.failed", "step.fallback", "step.started"]
    assert t.dispatches[0].function == "sendSchedulingLink"
    assert t.dispatches[0].fallback is True
    t = apply_step_result(SEED, s, "scheduleKickoff", 4, at(3040), ok=True, output={"link": "l"})
    assert s.steps["scheduleKickoff"].fallback is True
    assert [d.step_id for d in t.dispatches] == ["createSuccessPlan"]


def test_non_retryable_error_without_fallback_fails_with_the_cause() -> None:
    s = start_execution(SEED, "e1", PRO, T0).state
    err = {"type": "Invalid", "message": "no such customer", "retryable": False}
    t = apply_step_result(SEED, s, "accountSetup", 1, at(5), ok=False, error=err)
    assert s.status == ExecutionStatus.FAILED
    assert s.error is not None
    assert s.error["stepId"] == "accountSetup"
    assert "failed after 1 attempt(s): no such customer" in s.error["message"]
    assert t.events[-1].type == "execution.failed"


def test_a_duplicated_or_stale_result_changes_nothing() -> None:
    s = start_execution(SEED, "e1", PRO, T0).state
    ok(s, "accountSetup", {"customerEmail": "a"})
    before = s.model_dump_json()
    again = apply_step_result(SEED, s, "accountSetup", 1, at(9), ok=True, output={"other": 1})
    assert again.duplicate and not again.dispatches
    assert s.model_dump_json() == before


def test_step_timeout_is_enforced_by_a_timer() -> None:
    wf = compile_workflow({"name": "w", "steps": [{"id": "a", "function": "f", "timeout": 50}]})
    t = start_execution(wf, "e", {}, T0)
    assert t.timers[0].kind == "timeout" and t.timers[0].due_at == at(50)
    t = fire_timer(wf, t.state, "timeout", "a", 1, at(50))
    assert t.state.status == ExecutionStatus.FAILED
    assert "no result within 50 ms" in t.state.error["message"]  # type: ignore[index]
    late = apply_step_result(wf, t.state, "a", 1, at(60), ok=True, output={})
    assert late.duplicate


def test_output_violating_the_schema_fails_with_a_clear_message() -> None:
    s = start_execution(SEED, "e1", PRO, T0).state
    for step in ("accountSetup", "welcomeEmail", "resourceAllocation"):
        ok(s, step, {})
    ok(
        s,
        "createSuccessPlan",
        {"onboardingStatus": "done", "nextSteps": [], "estimatedTimeToValue": 1},
    )
    assert s.status == ExecutionStatus.FAILED
    assert s.error is not None and s.error["type"] == "OutputValidationError"
    assert "onboardingStatus: 'done' is not one of" in s.error["message"]


def test_cancel_pause_resume() -> None:
    s = start_execution(SEED, "e1", PRO, T0).state
    pause_execution(SEED, s, at(1))
    t = ok(s, "accountSetup", {})
    assert t.dispatches == [] and s.status == ExecutionStatus.PAUSED
    t = resume_execution(SEED, s, at(2))
    assert [d.step_id for d in t.dispatches] == ["welcomeEmail"]
    t = cancel_execution(SEED, s, at(3), "customer left")
    assert s.status == ExecutionStatus.CANCELLED
    assert s.steps["welcomeEmail"].status == StepStatus.CANCELLED
    assert cancel_execution(SEED, s, at(4)).duplicate


def test_retry_from_the_failed_step_keeps_earlier_outputs_and_links_lineage() -> None:
    s = start_execution(SEED, "e1", PRO, T0).state
    ok(s, "accountSetup", {"customerEmail": "a"})
    apply_step_result(
        SEED,
        s,
        "welcomeEmail",
        1,
        at(2),
        ok=False,
        error={"type": "X", "message": "smtp", "retryable": False},
    )
    assert s.status == ExecutionStatus.FAILED
    t = retry_execution(SEED, s, "e2", at(10), input_={**PRO, "industry": "retail"})
    new = t.state
    assert new.retry_of == "e1"
    assert new.steps["accountSetup"].status == StepStatus.SUCCEEDED
    assert [d.step_id for d in t.dispatches] == ["welcomeEmail"]
    assert new.input["industry"] == "retail"
    assert t.events[0].data["retryOf"] == "e1" and t.events[0].data["fromStep"] == "welcomeEmail"


def test_auto_parallelism_runs_independent_steps_together() -> None:
    wf = compile_workflow(
        {
            "name": "w",
            "parallelism": "auto",
            "steps": [
                {"id": "a", "function": "f"},
                {"id": "b", "function": "f"},
                {"id": "c", "function": "f", "input": {"x": "{{a.v}}", "y": "{{b.v}}"}},
            ],
        }
    )
    t = start_execution(wf, "e", {}, T0)
    assert sorted(d.step_id for d in t.dispatches) == ["a", "b"]
    s = t.state
    assert apply_step_result(wf, s, "a", 1, at(1), ok=True, output={"v": 1}).dispatches == []
    t = apply_step_result(wf, s, "b", 1, at(2), ok=True, output={"v": 2})
    assert t.dispatches[0].input == {"x": 1, "y": 2}


def test_invalid_input_fails_the_execution_naming_the_field() -> None:
    s = start_execution(SEED, "e1", {**PRO, "plan": "gold"}, T0).state
    assert s.status == ExecutionStatus.FAILED
    assert "plan: 'gold' is not one of" in s.error["message"]  # type: ignore[index]


@pytest.mark.parametrize(("n", "expected"), [(1, 1000), (2, 2000), (3, 4000), (4, 5000)])
def test_backoff_is_exponential_and_capped(n: int, expected: int) -> None:
    assert (
        backoff_delay_ms(Backoff(initial_delay=1000, multiplier=2, max_delay=5000), n) == expected
    )


def test_jitter_spreads_within_bounds_and_is_repeatable() -> None:
    b = Backoff(initial_delay=1000, multiplier=2, jitter=0.5)
    delays = {backoff_delay_ms(b, 1, f"e{i}") for i in range(50)}
    assert all(500 <= d <= 1500 for d in delays) and len(delays) > 10
    assert backoff_delay_ms(b, 1, "same") == backoff_delay_ms(b, 1, "same")
