"""contracts/golden/ (generated from the engine's models) against this SDK.

Run with `python -m pytest examples/workers/python` (tests/unit/test_golden_runtimes.py does).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import email_worker
import pytest
from wfworker import (
    DEAD_LETTER_FIELDS,
    ERROR_FIELDS,
    RESULT_FIELDS,
    Command,
    Contracts,
    FinalError,
    InvalidCommand,
    RetryableError,
    StepContext,
    Worker,
    _camel,
)

CONTRACTS = Contracts.find()
GOLDEN = CONTRACTS.root / "golden"
MANIFEST = json.loads((GOLDEN / "cases.json").read_text("utf-8"))
COMMAND = (GOLDEN / MANIFEST["command"]).read_bytes()


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text("utf-8"))


@pytest.mark.parametrize(
    ("what", "sdk", "stem", "definition"),
    [
        ("Command", {_camel(f.name) for f in dataclasses.fields(Command)}, "step-command", None),
        ("result", set(RESULT_FIELDS), "step-result", None),
        ("error", set(ERROR_FIELDS), "step-result", "StepError"),
        ("dead letter", set(DEAD_LETTER_FIELDS), "dead-letter", None),
    ],
)
def test_sdk_knows_every_field_of_the_contract(
    what: str, sdk: set[str], stem: str, definition: str | None
) -> None:
    schema = CONTRACTS.properties(stem, definition)
    assert sdk == schema, (
        f"{what}: only in the schema {sorted(schema - sdk)}, only in the SDK {sorted(sdk - schema)}"
        ": teach the Python SDK the contract change"
    )


def test_golden_command_decodes_and_round_trips() -> None:
    data = json.loads(COMMAND)
    assert CONTRACTS.violations("step-command", data) == []
    assert Command.from_json(data).to_json() == data


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda c: c["name"])
def test_golden_cases(case: dict[str, Any]) -> None:
    worker = Worker(CONTRACTS, worker_id="python-golden")
    does = case["function"]

    @worker.function("sendPersonalizedEmail")
    def send(value: dict[str, Any], ctx: StepContext) -> Any:
        assert ctx.idempotency_key
        if raises := does.get("raises"):
            kind = RetryableError if raises["retryable"] else FinalError
            raise kind(raises["type"], raises["message"], raises["details"])
        return does["returns"]

    got = json.loads(json.dumps(worker.process(COMMAND)))
    assert CONTRACTS.violations("step-result", got) == []
    want = golden(case["result"])
    for field in MANIFEST["sdkFills"]:
        assert got.pop(field) is not None, f"the SDK must fill {field}"
        want.pop(field)
    assert got == want, f"{case['name']} result differs from golden/{case['result']}"


def test_invalid_command_is_dead_lettered() -> None:
    worker = Worker(CONTRACTS, worker_id="python-golden")
    value = b'{"executionId": "ex-1"}'
    with pytest.raises(InvalidCommand, match="commandId") as invalid:
        worker.process(value)
    letter = worker.dead_letter("wf.fn.x", 0, 7, b"ex-1", value, str(invalid.value))
    assert CONTRACTS.violations("dead-letter", letter) == []


def test_the_example_answers_the_golden_command_like_the_golden_ok_result() -> None:
    result = email_worker.worker.process(COMMAND)
    want = golden("step-result-ok.json")["output"] | {"sentBy": "python"}
    assert result["output"] == want


def test_golden_signature() -> None:
    from wfworker import SIGNATURE_HEADER, signature, signature_problem

    signing = golden("cases.json")["signing"]
    key, value = signing["key"].encode(), (GOLDEN / signing["value"]).read_bytes()
    assert signature(key, value).decode() == signing["signature"]
    header = [(SIGNATURE_HEADER, signing["signature"].encode())]
    assert signature_problem([key], value, header) is None
    assert "does not match" in (signature_problem([b"other"], value, header) or "")
    assert "no wf-signature" in (signature_problem([key], value, []) or "")
