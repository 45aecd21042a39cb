"""Validation finds every problem before anything runs, naming path, line and column."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.services.core.issues import DefinitionError
from workflows.services.core.loader import parse_definition_text
from workflows.services.core.validation import compile_workflow, validate_definition

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"
SEED: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())


def seed() -> dict[str, Any]:
    return copy.deepcopy(SEED)


def texts(raw: dict[str, Any]) -> list[str]:
    return [str(i) for i in validate_definition(raw)]


def test_seed_is_valid() -> None:
    assert validate_definition(seed()) == []


def test_broken_condition_names_step_path_and_column() -> None:
    raw = seed()
    raw["steps"][3]["condition"] = '{{input.plan = "enterprise"}}'
    assert texts(raw) == ["steps[3].condition: column 14: unexpected token '='"] or any(
        t.startswith("steps[3].condition: column 14:") for t in texts(raw)
    )


def test_yaml_errors_carry_the_file_line() -> None:
    text = EXAMPLE.read_text().replace(
        'input.plan === "enterprise" ||', 'input.plan = "enterprise" ||'
    )
    parsed = parse_definition_text(text)
    issues = validate_definition(parsed.data, parsed)
    assert len(issues) == 1
    line_no = next(
        i for i, line in enumerate(text.splitlines(), 1) if 'input.plan = "enterprise"' in line
    )
    assert issues[0].line == line_no
    assert issues[0].path == "steps[3].condition"


def test_all_errors_are_collected_not_just_the_first() -> None:
    raw = seed()
    raw["steps"][2]["input"]["plan"] = "{{input.tier}}"  # not in the input schema
    raw["steps"][5]["input"]["x"] = "{{nosuchstep.value}}"  # unknown reference
    raw["steps"][0]["input"]["y"] = "{{createSuccessPlan.z}}"  # later step, no dependsOn
    raw["errorHandling"]["fallbackSteps"]["ghost"] = "fn"
    raw["steps"][4]["condition"] = "{{!!assignAccountManager"  # unclosed
    found = texts(raw)
    assert any(t.startswith("steps[2].input.plan") and "no field 'tier'" in t for t in found)
    assert any(
        t.startswith("steps[5].input.x") and "unknown reference 'nosuchstep'" in t for t in found
    )
    assert any(t.startswith("steps[0].input.y") and "dependsOn" in t for t in found)
    assert any(t.startswith("errorHandling.fallbackSteps.ghost") for t in found)
    assert any(t.startswith("steps[4].condition: column") for t in found)
    assert len(found) == 5


def test_duplicate_ids_are_reported_with_other_problems() -> None:
    raw = seed()
    raw["steps"][5]["id"] = "accountSetup"
    raw["steps"][2]["input"]["plan"] = "{{input.tier}}"
    found = texts(raw)
    assert "steps[5].id: duplicate step id 'accountSetup'" in found
    assert any(t.startswith("steps[2].input.plan") for t in found)


def test_depends_on_makes_a_later_reference_legal_and_cycles_are_refused() -> None:
    raw = {
        "name": "w",
        "steps": [
            {"id": "a", "function": "f", "input": {"v": "{{b.x}}"}, "dependsOn": ["b"]},
            {"id": "b", "function": "f", "dependsOn": []},
        ],
    }
    assert validate_definition(raw) == []
    raw["steps"][1]["dependsOn"] = ["a"]
    found = texts(raw)
    assert any("dependency cycle: a -> b -> a" in t for t in found)


def test_unknown_depends_on_and_self_reference() -> None:
    raw = {
        "name": "w",
        "steps": [{"id": "a", "function": "f", "input": "{{a.x}}", "dependsOn": ["zz"]}],
    }
    found = texts(raw)
    assert any("unknown step 'zz'" in t for t in found)
    assert any("cannot read its own output" in t for t in found)


def test_auto_parallelism_derives_dependencies_from_references() -> None:
    raw = {
        "name": "w",
        "parallelism": "auto",
        "steps": [
            {"id": "a", "function": "f"},
            {"id": "b", "function": "f"},
            {"id": "c", "function": "f", "input": {"x": "{{a.v}}", "y": "{{b.v}}"}},
        ],
    }
    wf = compile_workflow(raw)
    assert wf.step("a").depends_on == ()
    assert wf.step("b").depends_on == ()
    assert set(wf.step("c").depends_on) == {"a", "b"}


def test_structural_errors_name_the_field() -> None:
    found = texts({"name": "w", "steps": [{"id": "a"}]})
    assert found == ["steps[0].function: Field required"]
    assert texts({"name": "w", "steps": []})[0].startswith("steps:")


def test_invalid_json_schema_is_reported() -> None:
    raw = seed()
    raw["input"] = {"type": "objekt"}
    assert any(t.startswith("input:") and "JSON Schema" in t for t in texts(raw))


@pytest.mark.parametrize(
    "text",
    ["name: [unclosed", "[" * 5000, "a: " + "[" * 40 + "]" * 40],
)
def test_bad_or_deep_documents_give_a_definition_error(text: str) -> None:
    with pytest.raises(DefinitionError):
        parse_definition_text(text)
