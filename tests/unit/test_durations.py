"""Durations as text wherever milliseconds are accepted (issue 17 item 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from workflows.cli import main
from workflows.contracts.generate import CONTRACTS_DIR, DEFINITION_SCHEMA
from workflows.files import load_definition_file
from workflows.services.core.durations import parse_duration_ms
from workflows.services.core.simulate import simulate
from workflows.services.core.validation import compile_workflow, validate_definition

EXAMPLE = Path(__file__).resolve().parents[1] / "definitions" / "durations.yaml"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        (1500, 1500),
        ("1500", 1500),
        ("500ms", 500),
        ("5s", 5_000),
        ("1.5s", 1_500),
        ("30m", 1_800_000),
        ("24h", 86_400_000),
        ("1h30m", 5_400_000),
        ("2d", 172_800_000),
        ("1w", 604_800_000),
        ("P1D", 86_400_000),
        ("PT30M", 1_800_000),
        ("PT1M", 60_000),
        ("P1DT12H", 129_600_000),
        ("P2W", 1_209_600_000),
        ("PT0.5S", 500),
    ],
)
def test_text_and_numbers_parse_to_milliseconds(text: Any, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("5 parsecs", "is not a duration"),
        ("-5s", "is not a duration"),
        ("P", "is not a duration"),
        ("PT", "is not a duration"),
        ("P1M", "years and months have no fixed length"),
        ("P1Y", "years and months have no fixed length"),
        (True, "expected milliseconds"),
        (1.5, "whole number"),
    ],
)
def test_anything_else_is_refused_with_a_hint(value: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_duration_ms(value)


def test_every_millisecond_field_of_the_definition_takes_text() -> None:
    wf = load_definition_file(EXAMPLE)
    assert wf.definition.timeout == 86_400_000
    backoff = wf.definition.error_handling.retry_strategy.backoff  # type: ignore[union-attr]
    assert (backoff.initial_delay, backoff.max_delay) == (500, 1_800_000)
    assert wf.step("charge").timeout_ms == 5_000
    assert wf.definition.to_wire()["steps"][0]["timeout"] == 5_000  # stored as ms


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"steps": [{"id": "a", "function": "f", "timeout": "5 parsecs"}]}, "steps[0].timeout"),
        (
            {"steps": [{"id": "a", "function": "f", "retry": {"backoff": {"maxDelay": "P1M"}}}]},
            "steps[0].retry.backoff.maxDelay",
        ),
        (
            {"errorHandling": {"retryStrategy": {"backoff": {"initialDelay": "later"}}}},
            "errorHandling.retryStrategy.backoff.initialDelay",
        ),
        (
            {"steps": [{"id": "a", "function": "sleep", "input": {"duration": "a while"}}]},
            "steps[0].input.duration",
        ),
        (
            {
                "steps": [
                    {"id": "a", "function": "waitForEvent", "input": {"timeout": "1 fortnight"}}
                ]
            },
            "steps[0].input.timeout",
        ),
    ],
)
def test_a_bad_duration_names_its_field(patch: dict[str, Any], path: str) -> None:
    raw = {"name": "d", "steps": [{"id": "a", "function": "f"}], **patch}
    issues = validate_definition(raw)
    assert [issue.path for issue in issues] == [path]
    assert "duration" in issues[0].message or "months" in issues[0].message


def test_templated_wait_durations_are_checked_when_rendered() -> None:
    raw = {
        "name": "d",
        "steps": [{"id": "a", "function": "sleep", "input": {"duration": "{{input.d}}"}}],
    }
    assert validate_definition(raw) == []
    wf = compile_workflow(raw)
    assert simulate(wf, {"d": "P1D"}).state.status.value == "completed"
    failed = simulate(wf, {"d": "P1M"}).state
    assert failed.status.value == "failed"
    assert "years and months" in (failed.error or {}).get("message", "")


def test_simulate_waits_the_text_backoff() -> None:
    result = simulate(load_definition_file(EXAMPLE), {}, fail={"charge"})
    delays = [e.data["delayMs"] for e in result.events if e.type == "step.retrying"]
    assert delays == [500, 1000]


def test_the_definition_json_schema_takes_duration_text() -> None:
    path = CONTRACTS_DIR / "schemas" / f"{DEFINITION_SCHEMA}.schema.json"
    validator = Draft202012Validator(json.loads(path.read_text()))
    ok = {"name": "d", "timeout": "P1D", "steps": [{"id": "a", "function": "f", "timeout": "5s"}]}
    assert list(validator.iter_errors(ok)) == []
    bad = {"name": "d", "steps": [{"id": "a", "function": "f", "timeout": "5 parsecs"}]}
    error = best_match(validator.iter_errors(bad))
    assert error is not None and list(error.absolute_path) == ["steps", 0, "timeout"]


def test_the_readme_simulate_example_prints_the_text_backoff(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", str(EXAMPLE), "--fail", "charge"])
    out = capsys.readouterr().out
    assert "[+      1 ms] retry   charge attempt 1 failed: --fail; next in 500 ms" in out
