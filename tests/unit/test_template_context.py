"""Templates in definitions (issue 17 item 6): the steps.<id> alias, trigger/execution/now,
filters and list helpers, validated with paths and columns, and run by simulate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflows.files import load_definition_file
from workflows.services.core.simulate import EPOCH, format_simulation, simulate
from workflows.services.core.templates import compile_template, parse_condition
from workflows.services.core.validation import compile_workflow, validate_definition

DEFINITIONS = Path(__file__).parents[1] / "definitions"


def texts(raw: dict[str, Any]) -> list[str]:
    return [str(issue) for issue in validate_definition(raw)]


def test_the_steps_alias_reads_and_references_the_step_itself() -> None:
    template = compile_template({"a": "{{steps.order.total}}", "b": '{{steps["order"].id}}'})
    assert template.references() == {("order", "total"), ("order", "id")}
    assert template.render({"order": {"total": 3, "id": "x"}}) == {"a": 3, "b": "x"}
    assert parse_condition("steps.order.total > 2").references() == {("order", "total")}


def test_the_alias_counts_as_a_dependency_in_auto_mode() -> None:
    raw = {
        "name": "w",
        "parallelism": "auto",
        "steps": [
            {"id": "a", "function": "f"},
            {"id": "c", "function": "f", "input": {"x": "{{steps.a.v | default: 0}}"}},
        ],
    }
    assert compile_workflow(raw).step("c").depends_on == ("a",)


def test_validation_names_path_and_column_for_filters_and_chains() -> None:
    raw = {
        "name": "w",
        "steps": [
            {"id": "a", "function": "f", "input": {"x": "{{input.n | shout}}"}},
            {"id": "b", "function": "f", "condition": "{{0 < input.n < 10}}"},
            {"id": "c", "function": "f", "input": "{{steps.nope.x}}"},
            {"id": "d", "function": "f", "input": "{{ sum(1, 2) }}"},
        ],
    }
    found = texts(raw)
    assert any(t.startswith("steps[0].input.x: column 13: 'shout' is not a filter") for t in found)
    assert any(
        t.startswith("steps[1].condition: column 15: chained comparison") and "&&" in t
        for t in found
    ), found
    assert any("steps[2].input" in t and "unknown reference 'nope'" in t for t in found), found
    assert any(t.startswith("steps[3].input: column 4: sum() takes 1 argument") for t in found)


def test_steps_trigger_and_now_are_reserved_step_ids() -> None:
    for word in ("steps", "trigger", "now"):
        raw = {"name": "w", "steps": [{"id": word, "function": "f"}]}
        assert f"steps[0].id: '{word}' is reserved; choose another id" in texts(raw)


def test_simulate_renders_execution_trigger_now_and_the_filters() -> None:
    wf = load_definition_file(DEFINITIONS / "templates.yaml")
    lines = [
        {"sku": "b", "price": 2.5, "paid": True},
        {"sku": "a", "price": 4, "paid": False},
        {"sku": "b", "price": 1, "paid": True},
    ]
    result = simulate(wf, {"customer": "ada"}, mocks={"order": {"lines": lines}})
    assert result.state.status.value == "completed"
    assert result.state.steps["summarise"].input == {
        "customer": "ADA",
        "total": 7.5,
        "lines": 3,
        "skus": ["a", "b"],
        "allPaid": False,
        "day": EPOCH.date().isoformat(),
        "ref": "INV-simulation",
        "startedBy": "api",
        "note": "none",
    }
    printed = "\n".join(format_simulation(result))
    assert '"total":7.5' in printed  # the printed path shows each rendered input


def test_now_is_the_time_of_the_transition() -> None:
    raw = {"name": "w", "steps": [{"id": "a", "function": "f", "input": {"at": "{{now}}"}}]}
    result = simulate(compile_workflow(raw), {})
    assert result.state.steps["a"].input == {"at": EPOCH.isoformat()}
