"""forEach (issue 17 item 1): validation with paths, the tolerance rule, simulate's path and
the dispatcher's item runner (the broker runs are in tests/integration/test_definition_language)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from workflows.contracts import StepCommand, StepError, StepResult
from workflows.files import load_definition_file
from workflows.services.core.for_each import allowed_failures, for_each_spec, map_outcome
from workflows.services.core.simulate import format_simulation, simulate
from workflows.services.core.validation import compile_workflow, validate_definition
from workflows.services.dispatcher.for_each import run_map

DEFINITION = Path(__file__).parents[1] / "definitions" / "for_each.yaml"


def texts(raw: dict[str, Any]) -> list[str]:
    return [str(issue) for issue in validate_definition(raw)]


def test_validation_names_each_misuse_with_its_path() -> None:
    raw = {
        "name": "w",
        "steps": [
            {"id": "a", "function": "f"},
            {"id": "b", "function": "g", "forEach": "{{a.x", "input": "{{item}}"},
            {"id": "c", "function": "g", "input": {"v": "{{item.v}}"}, "maxConcurrency": 2},
            {"id": "d", "function": "sleep", "forEach": "{{a.x}}", "toleratedFailures": "150%"},
            {"id": "e", "function": "g", "forEach": "{{nope.x}}"},
        ],
    }
    found = texts(raw)
    assert any(t.startswith("steps[1].forEach: column 1: unclosed '{{'") for t in found), found
    assert any(t.startswith("steps[2].input.v: unknown reference 'item'") for t in found)
    assert "steps[2].maxConcurrency: maxConcurrency only applies to a forEach step" in found
    assert any(t.startswith("steps[3].forEach: forEach runs a function per item") for t in found)
    assert any(t.startswith("steps[3].toleratedFailures: '150%' is not a count") for t in found)
    assert any(t.startswith("steps[4].forEach: unknown reference 'nope'") for t in found)


def test_the_list_counts_as_a_dependency_in_auto_mode() -> None:
    raw = {
        "name": "w",
        "parallelism": "auto",
        "steps": [
            {"id": "a", "function": "f"},
            {"id": "b", "function": "g", "forEach": "{{a.items}}", "input": "{{item}}"},
        ],
    }
    assert compile_workflow(raw).step("b").depends_on == ("a",)


@pytest.mark.parametrize(
    ("total", "tolerated", "allowed"),
    [
        (10, None, 0),
        (10, 3, 3),
        (10, "10%", 1),
        (9, "10%", 0),
        (10_000, "0.5%", 50),
        (7, "100%", 7),
    ],
)
def test_tolerated_failures_as_a_count_or_a_percentage(
    total: int, tolerated: int | str | None, allowed: int
) -> None:
    assert allowed_failures(total, tolerated) == allowed


def test_map_outcome_keeps_item_order_and_names_the_first_failure() -> None:
    error = {"type": "Quota", "message": "no seats"}
    assert map_outcome([1, None, 3], {1: error}, 1) == (True, [1, None, 3], None)
    ok, output, failure = map_outcome([1, None, None], {2: error, 1: error}, "10%")
    assert (ok, output) == (False, None) and failure is not None
    assert failure["type"] == "ForEachFailed" and failure["retryable"] is False
    assert failure["details"]["failedItems"] == [1, 2]
    assert (
        "2 of 3 items failed (at most 0 tolerated); item 1: Quota: no seats" in failure["message"]
    )


def test_simulate_prints_the_map_and_its_outputs() -> None:
    wf = load_definition_file(DEFINITION)
    mocks = {"accountSetup": {"seats": ["ann", "bob"]}, "provision": {"user": "u"}}
    result = simulate(wf, {"accountId": "acme"}, mocks=mocks)
    assert result.state.status.value == "completed"
    assert result.state.steps["provision"].output == [{"user": "u"}, {"user": "u"}]
    assert result.state.steps["report"].input == {"provisioned": 2, "first": "u"}
    printed = "\n".join(format_simulation(result))
    assert "forEach over 2 items, maxConcurrency 5" in printed
    spec = for_each_spec(result.state.steps["provision"].input)
    assert spec is not None and spec["inputs"][1] == {
        "account": "acme",
        "seat": "bob",
        "position": 2,
    }


def test_a_list_that_is_not_one_fails_the_step_with_the_path() -> None:
    wf = load_definition_file(DEFINITION)
    result = simulate(wf, {"accountId": "a"}, mocks={"accountSetup": {"seats": "ann"}})
    assert result.state.status.value == "failed"
    error = result.state.steps["provision"].error or {}
    assert error["type"] == "ForEachError"
    assert error["message"] == "steps[1].forEach must yield a list, got string"


def _command() -> StepCommand:
    return StepCommand(
        execution_id="e1",
        command_id="e1:m:1",
        workflow="w",
        workflow_version=1,
        step_id="m",
        function="f",
        attempt=1,
        idempotency_key="e1:m",
    )


async def test_run_map_retries_items_within_the_concurrency() -> None:
    running, peak, seen = 0, 0, []

    async def call(command: StepCommand) -> StepResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        seen.append((command.input, command.attempt, command.idempotency_key))
        await asyncio.sleep(0.001)
        running -= 1
        base = {"execution_id": "e1", "command_id": command.command_id, "step_id": "m"}
        if command.input == 2 and command.attempt == 1:
            err = StepError(type="Busy", message="again")
            return StepResult(**base, attempt=command.attempt, ok=False, error=err)
        return StepResult(**base, attempt=command.attempt, ok=True, output=command.input * 10)

    spec = {
        "inputs": list(range(6)),
        "maxConcurrency": 2,
        "retry": {"maxAttempts": 2, "backoff": {"kind": "fixed", "initialDelay": 1}},
    }
    result = await run_map(_command(), spec, call)
    assert result.ok and result.output == [0, 10, 20, 30, 40, 50]
    assert peak == 2 and (2, 2, "e1:m:item:2") in seen
    assert result.call == {"forEach": {"items": 6, "failed": 0, "attempts": 7, "maxConcurrency": 2}}


def test_the_fallback_of_a_failed_map_runs_as_a_map() -> None:
    raw = {
        "name": "w",
        "steps": [
            {"id": "m", "function": "g", "forEach": "{{input.xs}}", "input": "{{item}}"},
        ],
        "errorHandling": {"fallbackSteps": {"m": "slowPath"}},
    }
    mocks = {"slowPath": {"via": "fallback"}}
    result = simulate(compile_workflow(raw), {"xs": [1, 2]}, mocks=mocks, fail={"m"})
    assert result.state.status.value == "completed"
    assert result.state.steps["m"].output == [{"via": "fallback"}, {"via": "fallback"}]
