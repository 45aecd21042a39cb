"""Compensation (saga) in the pure core: reverse order, retries, failures recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.services.core.engine import (
    apply_step_result,
    cancel_execution,
    fire_timer,
    start_execution,
)
from workflows.services.core.issues import DefinitionError
from workflows.services.core.simulate import simulate
from workflows.services.core.state import ExecutionStatus, StepStatus
from workflows.services.core.validation import compile_workflow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FAIL = {"type": "Boom", "message": "declined", "retryable": False}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def saga(retry: int = 1) -> Any:
    return compile_workflow(
        {
            "name": "trip",
            "steps": [
                {"id": "flight", "function": "bookFlight", "compensate": "cancelFlight"},
                {"id": "hotel", "function": "bookHotel", "compensate": "cancelHotel"},
                {"id": "car", "function": "bookCar", "compensate": "cancelCar"},
            ],
            "errorHandling": {
                "retryStrategy": {"maxAttempts": retry, "backoff": {"initialDelay": 100}}
            },
        }
    )


def run_until_car_fails(w: Any) -> Any:
    state = start_execution(w, "e1", {}, T0).state
    apply_step_result(w, state, "flight", 1, at(1), ok=True, output={"pnr": "F1"})
    t = apply_step_result(w, state, "hotel", 1, at(2), ok=True, output={"room": 7})
    assert t.dispatches[0].input == {}
    return apply_step_result(w, state, "car", 1, at(3), ok=False, error=FAIL)


def test_third_step_fails_compensations_run_in_reverse_order() -> None:
    w = saga()
    t = run_until_car_fails(w)
    state = t.state
    assert state.status == ExecutionStatus.RUNNING and state.compensation is not None
    [d] = t.dispatches
    assert (d.step_id, d.function, d.attempt) == ("hotel.compensate", "cancelHotel", 1)
    assert d.input == {"input": {}, "output": {"room": 7}}
    assert apply_step_result(w, state, "flight.compensate", 1, at(4), ok=True).duplicate
    t = apply_step_result(w, state, "hotel.compensate", 1, at(4), ok=True, output={"ok": 1})
    [d] = t.dispatches
    assert (d.step_id, d.function) == ("flight.compensate", "cancelFlight")
    t = apply_step_result(w, state, "flight.compensate", 1, at(5), ok=True, output={"ok": 2})
    assert state.status == ExecutionStatus.FAILED
    assert state.error is not None and state.error["stepId"] == "car"
    trail = [(e.type, e.step_id) for e in state.history if e.type.startswith("step.compens")]
    assert trail == [
        ("step.compensating", "hotel"),
        ("step.compensated", "hotel"),
        ("step.compensating", "flight"),
        ("step.compensated", "flight"),
    ]
    assert state.history[-1].type == "execution.failed"
    assert state.compensation["compensated"] == ["hotel", "flight"]


def test_compensation_failures_retry_then_are_recorded_and_the_next_runs() -> None:
    w = saga(retry=2)
    state = start_execution(w, "e1", {}, T0).state
    apply_step_result(w, state, "flight", 1, at(1), ok=True, output={})
    apply_step_result(w, state, "hotel", 1, at(2), ok=True, output={})
    apply_step_result(w, state, "car", 1, at(3), ok=False, error=FAIL)
    t = apply_step_result(
        w, state, "hotel.compensate", 1, at(4), ok=False, error={"type": "X", "message": "m"}
    )
    assert [(x.kind, x.step_id, x.attempt) for x in t.timers] == [("compensate_retry", "hotel", 1)]
    t = fire_timer(w, state, "compensate_retry", "hotel", 1, t.timers[0].due_at)
    assert [(d.step_id, d.attempt) for d in t.dispatches] == [("hotel.compensate", 2)]
    t = apply_step_result(
        w, state, "hotel.compensate", 2, at(500), ok=False, error={"type": "X", "message": "m"}
    )
    assert [d.step_id for d in t.dispatches] == ["flight.compensate"]
    apply_step_result(w, state, "flight.compensate", 1, at(501), ok=True)
    assert state.status == ExecutionStatus.FAILED
    assert state.compensation["failed"] == ["hotel"]


def test_no_compensation_when_nothing_to_undo_or_on_cancel() -> None:
    w = saga()
    state = start_execution(w, "e1", {}, T0).state
    apply_step_result(w, state, "flight", 1, at(1), ok=False, error=FAIL)
    assert state.status == ExecutionStatus.FAILED and state.compensation is None
    state = start_execution(w, "e2", {}, T0).state
    apply_step_result(w, state, "flight", 1, at(1), ok=True, output={})
    cancel_execution(w, state, at(2))
    assert state.status == ExecutionStatus.CANCELLED and state.compensation is None


def test_other_running_steps_are_cancelled_while_compensating() -> None:
    w = compile_workflow(
        {
            "name": "p",
            "parallelism": "auto",
            "steps": [
                {"id": "a", "function": "f", "compensate": "undoA"},
                {"id": "b", "function": "f", "dependsOn": ["a"]},
                {"id": "c", "function": "f", "dependsOn": ["a"]},
            ],
        }
    )
    state = start_execution(w, "e1", {}, T0).state
    apply_step_result(w, state, "a", 1, at(1), ok=True, output={})
    t = apply_step_result(w, state, "b", 1, at(2), ok=False, error=FAIL)
    assert [d.step_id for d in t.dispatches] == ["a.compensate"]
    assert state.steps["c"].status == StepStatus.CANCELLED
    assert apply_step_result(w, state, "c", 1, at(3), ok=True, output={}).duplicate


def test_simulate_runs_compensations() -> None:
    result = simulate(saga(), {}, fail={"car"})
    assert result.state.status == ExecutionStatus.FAILED
    ran = [e.data["function"] for e in result.events if e.type == "step.compensating"]
    assert ran == ["cancelHotel", "cancelFlight"]


def test_compensate_is_validated() -> None:
    with pytest.raises(DefinitionError, match="nothing to compensate"):
        compile_workflow(
            {"name": "x", "steps": [{"id": "s", "function": "sleep", "compensate": "undo"}]}
        )
    with pytest.raises(DefinitionError, match="compensate"):
        compile_workflow(
            {"name": "x", "steps": [{"id": "s", "function": "f", "compensate": "1bad"}]}
        )
