"""Branching (issue 17 item 2): switch, next / onSuccess / onFailure, isFinal, the map format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from workflows.cli import main
from workflows.contracts.generate import CONTRACTS_DIR, DEFINITION_SCHEMA
from workflows.files import load_definition_file
from workflows.services.core.simulate import simulate
from workflows.services.core.validation import compile_workflow, validate_definition

HERE = Path(__file__).resolve().parents[1] / "definitions"
BRANCHING = HERE / "branching.yaml"
MACHINE = HERE / "state_machine.yaml"


@pytest.mark.parametrize(
    ("given", "ran", "skipped"),
    [
        ({"plan": "enterprise"}, "enterprise", {"large", "standard"}),
        ({"plan": "pro", "seats": 80}, "large", {"enterprise", "standard"}),
        ({"plan": "pro", "seats": 3}, "standard", {"enterprise", "large"}),
    ],
)
def test_a_switch_runs_the_first_matching_case_and_skips_the_others(
    given: dict[str, Any], ran: str, skipped: set[str]
) -> None:
    result = simulate(load_definition_file(BRANCHING), given)
    path = result.path()
    assert result.state.status.value == "completed"
    assert path[ran] == "succeeded"
    assert {s for s in ("enterprise", "large", "standard") if path[s] == "skipped"} == skipped
    assert path["welcome"] == path["done"] == "succeeded"
    assert path["apologise"] == "skipped"  # onFailure target: nothing failed
    reasons = {e.step_id: e.data.get("reason") for e in result.events if e.type == "step.skipped"}
    assert all(reasons[s] == f"'route' chose '{ran}'" for s in skipped)
    route = result.state.steps["route"]
    assert route.output["next"] == ran


def test_the_join_waits_for_the_chosen_branch() -> None:
    """welcome's predecessors are all three branches: it starts after the chosen one ends."""
    result = simulate(load_definition_file(BRANCHING), {"plan": "enterprise"})
    order = [(e.type, e.step_id) for e in result.events]
    assert order.index(("step.succeeded", "enterprise")) < order.index(("step.started", "welcome"))


def test_on_failure_routes_and_is_final_ends_the_execution() -> None:
    wf = load_definition_file(BRANCHING)
    failed = simulate(wf, {"plan": "enterprise"}, fail={"welcome"})
    assert failed.state.status.value == "completed"
    assert failed.path()["welcome"] == "caught"
    assert failed.path()["done"] == "skipped"
    assert failed.path()["apologise"] == "succeeded"
    ok = simulate(wf, {"plan": "enterprise"})
    assert ok.path()["apologise"] == "skipped"


def test_no_case_and_no_default_fails_with_the_switch_named() -> None:
    raw = {
        "name": "s",
        "steps": [
            {"id": "pick", "switch": {"cases": [{"when": "input.x > 1", "next": "big"}]}},
            {"id": "big", "function": "f"},
        ],
    }
    result = simulate(compile_workflow(raw), {"x": 0})
    assert result.state.error is not None
    assert result.state.error["type"] == "NoMatchingCase"
    assert "switch 'pick'" in result.state.error["message"]


@pytest.mark.parametrize(
    ("outcome", "path"),
    [
        ("valid", {"check": "succeeded", "charge": "succeeded", "ship": "succeeded"}),
        ("invalid", {"check": "succeeded", "charge": "skipped", "ship": "skipped"}),
    ],
)
def test_the_state_machine_map_format_loads_into_the_same_model(
    outcome: str, path: dict[str, str]
) -> None:
    wf = load_definition_file(MACHINE)
    assert wf.steps[0].id == "check"
    assert wf.step("check").step.description == "Check the order"
    result = simulate(wf, {}, mocks={"check": {"outcome": outcome}})
    assert result.state.status.value == "completed"
    assert {k: v for k, v in result.path().items() if k in path} == path
    assert result.path()["reject"] == ("succeeded" if outcome == "invalid" else "skipped")


def test_an_unknown_outcome_fails_naming_the_choices() -> None:
    result = simulate(load_definition_file(MACHINE), {}, mocks={"check": {"outcome": "maybe"}})
    assert result.state.error is not None
    assert result.state.error["type"] == "NoTransition"
    assert "invalid, valid" in result.state.error["message"]


@pytest.mark.parametrize(
    ("raw", "path", "says"),
    [
        (
            {"steps": [{"id": "a", "function": "f"}, {"id": "b", "function": "f", "next": "a"}]},
            "steps[1].next",
            "cycles are only allowed through an explicit loop",
        ),
        (
            {
                "steps": [
                    {"id": "s", "switch": {"cases": [{"when": "true", "next": "zz"}]}},
                    {"id": "b", "function": "f"},
                ]
            },
            "steps[0].switch.cases[0].next",
            "unknown step 'zz'",
        ),
        (
            {
                "steps": [
                    {"id": "s", "switch": {"cases": [{"when": "input.x ===", "next": "b"}]}},
                    {"id": "b", "function": "f"},
                ]
            },
            "steps[0].switch.cases[0].when",
            "unexpected end of expression",
        ),
        (
            {
                "steps": [
                    {"id": "a", "function": "f", "next": "c"},
                    {"id": "b", "function": "f"},
                    {"id": "c", "function": "f"},
                ]
            },
            "steps[1]",
            "no step leads to 'b'",
        ),
        (
            {
                "initialStep": "a",
                "steps": {
                    "a": {"function": "f", "next": "b"},
                    "b": {"function": "f", "next": {"again": "a", "done": "c"}},
                    "c": {"function": "f"},
                },
            },
            "(root)",
            "steps.b: transition cycle a -> b -> a",
        ),
        (
            {"initialStep": "a", "steps": {"a": {"function": "f"}, "b": {"function": "f"}}},
            "(root)",
            "steps.b: not reachable from initialStep 'a'",
        ),
    ],
)
def test_bad_transitions_are_refused_with_their_path(
    raw: dict[str, Any], path: str, says: str
) -> None:
    issues = validate_definition({"name": "bad", **raw})
    assert [i.path for i in issues] == [path]
    assert says in issues[0].message


def test_the_json_schema_takes_both_formats() -> None:
    schema = json.loads(
        (CONTRACTS_DIR / "schemas" / f"{DEFINITION_SCHEMA}.schema.json").read_text()
    )
    validator = Draft202012Validator(schema)
    for path in (BRANCHING, MACHINE):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []


def test_simulate_prints_the_branch_taken(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", str(BRANCHING), "--input", '{"plan": "enterprise"}'])
    out = capsys.readouterr().out
    assert "skipped large ('route' chose 'enterprise')" in out
    assert "status: completed" in out
