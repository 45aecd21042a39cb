"""Loops (issue 17 item 3): a group of steps runs again while `while` holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workflows.cli import main
from workflows.files import load_definition_file
from workflows.services.core.engine import apply_step_result, start_execution
from workflows.services.core.simulate import simulate
from workflows.services.core.validation import compile_workflow, validate_definition

EXAMPLE = Path(__file__).resolve().parents[1] / "definitions" / "loop.yaml"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNT = {
    "name": "count",
    "steps": [
        {"id": "start", "function": "f"},
        {"id": "fetch", "function": "page", "input": {"after": "{{start.n}}"}},
        {
            "id": "check",
            "function": "g",
            "input": {"page": "{{fetch.page}}"},
            "loop": {"from": "fetch", "while": "check.more", "maxIterations": 3},
        },
        {"id": "end", "function": "h", "input": {"last": "{{check.page}}"}},
    ],
}


def ok(wf: Any, state: Any, step: str, output: Any) -> Any:
    return apply_step_result(wf, state, step, state.steps[step].attempt, T0, ok=True, output=output)


def test_the_group_runs_again_with_fresh_attempt_numbers_until_while_is_false() -> None:
    wf = compile_workflow(COUNT)
    state = start_execution(wf, "e1", {}, T0).state
    ok(wf, state, "start", {"n": 0})
    for page in (1, 2):
        ok(wf, state, "fetch", {"page": page})
        t = ok(wf, state, "check", {"more": True, "page": page})
        assert [(d.step_id, d.attempt) for d in t.dispatches] == [("fetch", page + 1)]
        assert state.steps["fetch"].iteration == state.steps["check"].iteration == page
    ok(wf, state, "fetch", {"page": 3})
    t = ok(wf, state, "check", {"more": False, "page": 3})
    assert [(d.step_id, d.input) for d in t.dispatches] == [("end", {"last": 3})]
    loops = [e for e in state.history if e.type == "loop.iteration"]
    assert [(e.step_id, e.data["iteration"], e.data["steps"]) for e in loops] == [
        ("fetch", 1, ["fetch", "check"]),
        ("fetch", 2, ["fetch", "check"]),
    ]
    started = [e.data.get("iteration", 0) for e in state.history if e.type == "step.started"]
    assert started == [0, 0, 0, 1, 1, 2, 2, 0]  # start, fetch, check, ..., end


def test_reaching_max_iterations_fails_the_execution() -> None:
    wf = compile_workflow(COUNT)
    state = start_execution(wf, "e1", {}, T0).state
    ok(wf, state, "start", {"n": 0})
    for _ in range(3):
        ok(wf, state, "fetch", {"page": 1})
        ok(wf, state, "check", {"more": True})
    assert state.status.value == "failed"
    assert state.error is not None and state.error["type"] == "MaxIterationsReached"


def test_retries_start_afresh_in_each_iteration() -> None:
    raw = {**COUNT, "errorHandling": {"retryStrategy": {"maxAttempts": 2}}}
    wf = compile_workflow(raw)
    state = start_execution(wf, "e1", {}, T0).state
    ok(wf, state, "start", {"n": 0})
    ok(wf, state, "fetch", {"page": 1})
    ok(wf, state, "check", {"more": True})
    error = {"type": "Down", "message": "x", "retryable": True}
    apply_step_result(wf, state, "fetch", state.steps["fetch"].attempt, T0, ok=False, error=error)
    assert state.steps["fetch"].status.value == "waiting_retry"  # 1 of 2 in this iteration


def test_simulate_shows_each_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    result = simulate(load_definition_file(EXAMPLE), {}, mocks={"poll": {"state": "running"}})
    assert [e.data["iteration"] for e in result.events if e.type == "loop.iteration"] == [
        1,
        2,
        3,
        4,
    ]
    with pytest.raises(SystemExit):
        main(["simulate", str(EXAMPLE), "--mock", 'poll={"state":"running"}'])
    out = capsys.readouterr().out
    assert "loop    back to wait (iteration 1, while on poll was true)" in out
    assert "still ran after 5 iterations" in out


@pytest.mark.parametrize(
    ("loop", "path", "says"),
    [
        ({"from": "nope", "while": "true", "maxIterations": 2}, "steps[1].loop.from", "unknown"),
        ({"from": "c", "while": "true", "maxIterations": 2}, "steps[1].loop.from", "start at"),
        ({"from": "a", "while": "b.x ===", "maxIterations": 2}, "steps[1].loop.while", "end"),
        ({"from": "a", "while": "true"}, "steps[1].loop.maxIterations", "required"),
    ],
)
def test_loops_are_validated_with_their_path(loop: dict[str, Any], path: str, says: str) -> None:
    raw = {
        "name": "l",
        "steps": [
            {"id": "a", "function": "f"},
            {"id": "b", "function": "f", "loop": loop},
            {"id": "c", "function": "f"},
        ],
    }
    issues = validate_definition(raw)
    assert [i.path for i in issues] == [path]
    assert says in issues[0].message.lower()
