"""Error classes (issue 17 item 4): typed errors, retryOn / nonRetryable, catch, backoff kinds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workflows.cli import main
from workflows.contracts import StepCommand
from workflows.errors import FatalError, RetryableError
from workflows.files import load_definition_file
from workflows.functions import FunctionRegistry, run_function
from workflows.services.core.backoff import backoff_delay_ms
from workflows.services.core.definition import Backoff, RetryStrategy
from workflows.services.core.engine import apply_step_result, retries, start_execution
from workflows.services.core.simulate import simulate
from workflows.services.core.state import StepStatus
from workflows.services.core.validation import compile_workflow, validate_definition

EXAMPLE = Path(__file__).resolve().parents[1] / "definitions" / "error_classes.yaml"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "delays"),
    [
        ("fixed", [100, 100, 100, 100]),
        ("linear", [100, 200, 300, 400]),
        ("exponential", [100, 200, 400, 800]),
    ],
)
def test_backoff_kinds(kind: str, delays: list[int]) -> None:
    backoff = Backoff.model_validate({"kind": kind, "initialDelay": "100ms", "multiplier": 2})
    assert [backoff_delay_ms(backoff, n) for n in (1, 2, 3, 4)] == delays


def test_backoff_kind_caps_at_max_delay() -> None:
    backoff = Backoff.model_validate({"kind": "linear", "initialDelay": 100, "maxDelay": 250})
    assert [backoff_delay_ms(backoff, n) for n in (1, 2, 3)] == [100, 200, 250]


@pytest.mark.parametrize(
    ("policy", "error", "retried"),
    [
        ({}, {"type": "X"}, True),
        ({}, {"type": "X", "retryable": False}, False),
        ({"nonRetryable": ["X"]}, {"type": "X"}, False),
        ({"nonRetryable": ["X"]}, {"type": "Y"}, True),
        ({"retryOn": ["X"]}, {"type": "X"}, True),
        ({"retryOn": ["X"]}, {"type": "Y"}, False),
        ({"retryOn": ["*"], "nonRetryable": ["Y"]}, {"type": "Y"}, False),
        ({"retryOn": ["X"]}, {"type": "X", "retryable": False}, False),
    ],
)
def test_which_errors_are_retried(
    policy: dict[str, Any], error: dict[str, Any], retried: bool
) -> None:
    assert retries(RetryStrategy.model_validate(policy), error) is retried


def _fail(wf: Any, state: Any, step: str, type_: str) -> Any:
    error = {"type": type_, "message": "no", "retryable": True}
    return apply_step_result(wf, state, step, state.steps[step].attempt, T0, ok=False, error=error)


def test_a_caught_error_skips_to_the_handler_which_reads_it() -> None:
    wf = load_definition_file(EXAMPLE)
    state = start_execution(wf, "e1", {}, T0).state
    t = _fail(wf, state, "charge", "CardDeclined")  # nonRetryable: caught at once
    assert state.steps["charge"].status == StepStatus.CAUGHT
    assert state.steps["ship"].status == StepStatus.SKIPPED
    assert [d.step_id for d in t.dispatches] == ["declined"]
    assert t.dispatches[0].input == {"reason": "CardDeclined"}
    failed = next(e for e in t.events if e.type == "step.failed")
    assert failed.data["caughtBy"] == "declined"
    skipped = next(e for e in t.events if e.type == "step.skipped")
    assert "catch goes to 'declined'" in skipped.data["reason"]


def test_without_an_error_the_handler_is_skipped_in_its_turn() -> None:
    result = simulate(load_definition_file(EXAMPLE), {}, mocks={"charge": {"id": "c1"}})
    order = [(e.type, e.step_id) for e in result.events if e.step_id]
    assert result.state.status.value == "completed"
    assert result.path() == {
        "charge": "succeeded",
        "ship": "succeeded",
        "declined": "skipped",
        "done": "succeeded",
    }
    assert order.index(("step.succeeded", "ship")) < order.index(("step.skipped", "declined"))
    assert order.index(("step.skipped", "declined")) < order.index(("step.started", "done"))


def test_retry_on_and_linear_backoff_then_an_uncaught_type_fails() -> None:
    result = simulate(load_definition_file(EXAMPLE), {}, fail={"charge=CardNetworkTimeout"})
    delays = [e.data["delayMs"] for e in result.events if e.type == "step.retrying"]
    assert delays == [100, 200, 300]
    assert result.state.status.value == "failed"
    assert result.state.error is not None
    assert result.state.error["type"] == "CardNetworkTimeout"
    other = simulate(load_definition_file(EXAMPLE), {}, fail={"charge=Other"})
    assert other.state.steps["charge"].attempt == 1  # not in retryOn
    assert other.state.status.value == "failed"


def test_catch_comes_before_the_fallback_and_applies_to_the_fallbacks_error() -> None:
    raw = {
        "name": "c",
        "steps": [
            {"id": "a", "function": "f", "catch": [{"errors": ["Declined"], "next": "h"}]},
            {"id": "b", "function": "f"},
            {"id": "h", "function": "handle"},
        ],
        "errorHandling": {"fallbackSteps": {"a": "backup"}},
    }
    wf = compile_workflow(raw)
    state = start_execution(wf, "e1", {}, T0).state
    t = _fail(wf, state, "a", "Declined")
    assert [d.step_id for d in t.dispatches] == ["h"]  # no fallback for a caught type
    state = start_execution(wf, "e2", {}, T0).state
    t = _fail(wf, state, "a", "Down")
    assert [(d.step_id, d.function) for d in t.dispatches] == [("a", "backup")]
    t = _fail(wf, state, "a", "Declined")  # the fallback's error is caught too
    assert [d.step_id for d in t.dispatches] == ["h"]


@pytest.mark.parametrize(
    ("catch", "message"),
    [
        ({"next": "nowhere"}, "unknown step 'nowhere'"),
        ({"next": "first"}, "the catch step 'first' must come after 'second'"),
    ],
)
def test_catch_targets_are_checked_with_their_path(catch: dict[str, Any], message: str) -> None:
    raw = {
        "name": "c",
        "steps": [
            {"id": "first", "function": "f"},
            {"id": "second", "function": "f", "catch": [catch]},
        ],
    }
    issues = validate_definition(raw)
    assert [(i.path, i.message) for i in issues] == [("steps[1].catch[0].next", message)]


def test_error_types_and_backoff_kinds_are_validated() -> None:
    bad = {
        "name": "c",
        "steps": [
            {
                "id": "a",
                "function": "f",
                "retry": {"retryOn": ["has space"], "backoff": {"kind": "random"}},
            }
        ],
    }
    paths = sorted(i.path for i in validate_definition(bad))
    assert paths == ["steps[0].retry.backoff.kind", "steps[0].retry.retryOn[0]"]


async def test_the_python_sdk_sends_the_exception_class_or_the_explicit_type() -> None:
    class CardDeclined(Exception):
        pass

    registry = FunctionRegistry()

    def declined(data: Any) -> Any:
        raise CardDeclined("insufficient funds")

    def typed(data: Any) -> Any:
        raise RetryableError("slow", type="CardNetworkTimeout")

    def final(data: Any) -> Any:
        raise FatalError("stolen", type="FraudSuspected")

    for fn in (declined, typed, final):
        registry.register(fn, fn.__name__)
    got = []
    for name in ("declined", "typed", "final"):
        command = StepCommand(
            execution_id="e1",
            command_id=f"e1:s:{name}",
            workflow="w",
            workflow_version=1,
            step_id="s",
            function=name,
            attempt=1,
            idempotency_key="k",
        )
        result = await run_function(registry, command)
        assert result.error is not None
        got.append((result.error.type, result.error.retryable))
    assert got == [("CardDeclined", True), ("CardNetworkTimeout", True), ("FraudSuspected", False)]


def test_simulate_fail_with_a_type_prints_the_catch(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", str(EXAMPLE), "--fail", "charge=CardDeclined"])
    out = capsys.readouterr().out
    assert "caught  charge: CardDeclined (--fail) -> declined" in out
    assert "status: completed" in out
