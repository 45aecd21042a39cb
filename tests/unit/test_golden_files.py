"""contracts/golden/: the shared test vectors of the worker runtimes, generated from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from workflows.contracts import StepCommand, StepResult, decode, encode, generate, golden

GOLDEN = generate.CONTRACTS_DIR / "golden"


def load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def validator(stem: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((generate.CONTRACTS_DIR / "schemas" / f"{stem}.schema.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_golden_files_are_up_to_date() -> None:
    for path, text in golden.render().items():
        on_disk = generate.CONTRACTS_DIR / path
        assert on_disk.is_file(), f"contracts/{path} missing: run `make contracts`"
        assert on_disk.read_text(encoding="utf-8") == text, (
            f"contracts/{path} is stale: run `make contracts`"
        )
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(
        Path(p).name for p in golden.render()
    ), "contracts/golden/ holds files the generator does not write: run `make contracts`"


def test_make_contracts_writes_the_golden_files_and_check_mode_sees_them_stale(
    tmp_path: Path,
) -> None:
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    (tmp_path / "golden" / "step-result-ok.json").write_text("{}\n")
    (tmp_path / "golden" / "old.json").write_text("{}\n")
    assert generate.stale(tmp_path) == ["golden/old.json", "golden/step-result-ok.json"]
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    generate.write(tmp_path)
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0


def test_the_golden_command_is_a_valid_step_command() -> None:
    manifest = load("cases.json")
    raw = (GOLDEN / manifest["command"]).read_bytes()
    command = decode(StepCommand, raw)
    assert command == golden.COMMAND
    assert json.loads(encode(command)) == json.loads(raw)
    assert list(validator("step-command").iter_errors(json.loads(raw))) == []
    assert command.function == "sendPersonalizedEmail"
    assert command.deadline is not None and command.deadline.year > 2200  # never expires


def test_the_cases_are_an_ok_result_a_final_error_and_a_retryable_failure() -> None:
    manifest = load("cases.json")
    assert [c["name"] for c in manifest["cases"]] == ["ok", "error", "retryable"]
    assert set(manifest["sdkFills"]) == set(golden.SDK_FILLS)
    command = golden.COMMAND
    for case in manifest["cases"]:
        data = load(case["result"])
        assert list(validator("step-result").iter_errors(data)) == []
        result = decode(StepResult, json.dumps(data).encode())
        assert set(data) == {f.alias for f in StepResult.model_fields.values()}, "nulls are sent"
        assert (result.execution_id, result.command_id, result.step_id, result.attempt) == (
            command.execution_id,
            command.command_id,
            command.step_id,
            command.attempt,
        )
        does = case["function"]
        if "returns" in does:
            assert result.ok and result.output == does["returns"] and result.error is None
        else:
            assert not result.ok and result.output is None and result.error is not None
            assert result.error.model_dump(mode="json") == does["raises"]
    outcomes = [load(c["result"]) for c in manifest["cases"]]
    assert [o["ok"] for o in outcomes] == [True, False, False]
    assert [o["error"]["retryable"] for o in outcomes[1:]] == [False, True]


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.json")))
def test_golden_files_are_sorted_indented_json(name: str) -> None:
    text = (GOLDEN / name).read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
