"""The seed workflow loads from YAML and from Python, identically, with templates unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from examples.customer_onboarding import customerOnboardingWorkflow
from workflows.files import load_definition_file
from workflows.services.core.definition import WorkflowDefinition
from workflows.services.core.validation import compile_workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"

SEED_TEMPLATES = {
    "{{input.customerId}}",
    "{{input.plan}}",
    "{{accountSetup.customerEmail}}",
    "{{accountSetup.companyName}}",
    "{{input.industry}}",
    "{{accountSetup.accountUrl}}",
    "{{input.companySize}}",
    "{{assignAccountManager.email}}",
}


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


def test_yaml_example_has_every_seed_field() -> None:
    wf = load_definition_file(EXAMPLE)
    d = wf.definition
    assert d.name == "customerOnboardingWorkflow"
    assert [s.id for s in d.steps] == [
        "accountSetup",
        "welcomeEmail",
        "resourceAllocation",
        "assignAccountManager",
        "scheduleKickoff",
        "createSuccessPlan",
    ]
    assert d.error_handling.retry_strategy is not None
    assert d.error_handling.retry_strategy.max_attempts == 3
    assert d.error_handling.retry_strategy.backoff.initial_delay == 1000
    assert d.error_handling.retry_strategy.backoff.multiplier == 2
    assert d.error_handling.fallback_steps == {"scheduleKickoff": "sendSchedulingLink"}
    assert [m.name for m in d.metrics] == [
        "timeToFirstLogin",
        "onboardingCompletionRate",
        "timeToValue",
    ]
    assert d.input["properties"]["plan"]["enum"] == ["starter", "professional", "enterprise"]


def test_seed_conditions_are_character_for_character() -> None:
    d = load_definition_file(EXAMPLE).definition
    assert d.step("assignAccountManager").condition == (
        '{{input.plan === "enterprise" || input.companySize === "enterprise"}}'
    )
    assert d.step("scheduleKickoff").condition == "{{!!assignAccountManager}}"
    found = set().union(*(_strings(s.input) for s in d.steps))
    assert found >= SEED_TEMPLATES


def test_python_module_defines_the_same_workflow_as_yaml() -> None:
    from_yaml = load_definition_file(EXAMPLE).definition
    from_python = compile_workflow(customerOnboardingWorkflow).definition
    for a, b in zip(from_yaml.steps, from_python.steps, strict=True):
        assert (a.id, a.function, a.input, a.condition) == (b.id, b.function, b.input, b.condition)
    assert from_yaml.error_handling == from_python.error_handling
    assert from_yaml.metrics == from_python.metrics
    assert set(from_python.input["properties"]) == set(from_yaml.input["properties"])
    assert from_python.input["properties"]["plan"]["enum"] == [
        "starter",
        "professional",
        "enterprise",
    ]


def test_definition_round_trips_through_the_wire_format() -> None:
    d = load_definition_file(EXAMPLE).definition
    wire = d.to_wire()
    assert "errorHandling" in wire and "fallbackSteps" in wire["errorHandling"]
    assert WorkflowDefinition.model_validate(wire) == d
    assert yaml.safe_load(yaml.safe_dump(wire)) == wire


def test_unknown_fields_are_refused_with_their_path() -> None:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["steps"][1]["conditon"] = "{{true}}"
    with pytest.raises(Exception, match=r"steps\[1\]\.conditon"):
        compile_workflow(raw)
