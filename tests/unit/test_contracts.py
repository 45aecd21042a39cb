"""The message contracts: wire format, decode errors, and the generated schema files."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from workflows.contracts import (
    LIFECYCLE_EVENT_TYPES,
    MAX_MESSAGE_BYTES,
    Actor,
    CancelExecution,
    ContractError,
    DeadLetter,
    LifecycleEvent,
    ParentRef,
    PauseExecution,
    ResumeExecution,
    RetryExecution,
    StartExecution,
    StepCommand,
    StepError,
    StepResult,
    TimerFired,
    Topics,
    command_id,
    dead_letter,
    decode,
    decode_control,
    encode,
    generate,
)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
ACTOR = Actor(kind="user", id="u-1")


def step_command(**changes: Any) -> StepCommand:
    fields: dict[str, Any] = {
        "execution_id": "ex-1",
        "command_id": command_id("ex-1", "charge", 2),
        "workflow": "orders",
        "workflow_version": 3,
        "step_id": "charge",
        "function": "payments.charge",
        "input": {"amount": 10, "tags": ["a"]},
        "attempt": 2,
        "deadline": NOW + timedelta(minutes=5),
        "idempotency_key": "ex-1:charge",
    }
    return StepCommand(**(fields | changes))


def step_result(**changes: Any) -> StepResult:
    fields: dict[str, Any] = {
        "execution_id": "ex-1",
        "command_id": "ex-1:charge:2",
        "step_id": "charge",
        "attempt": 2,
        "ok": True,
        "output": [1, "two", None],
        "worker_id": "w-9",
        "started_at": NOW,
        "finished_at": NOW + timedelta(seconds=1),
    }
    return StepResult(**(fields | changes))


SAMPLES: dict[str, list[BaseModel]] = {
    "start-execution": [
        StartExecution(
            execution_id="ex-1",
            workflow="orders",
            workflow_version=None,
            input={"orderId": 7},
            idempotency_key="order-7",
            actor=Actor(kind="api"),
            parent=ParentRef(execution_id="ex-0", step_id="spawn"),
            retry_of="ex-old",
            notifications={"failed": ["ops@example.com"]},
        )
    ],
    "control-command": [
        CancelExecution(execution_id="ex-1", reason="typo", actor=ACTOR),
        PauseExecution(execution_id="ex-1", actor=ACTOR),
        ResumeExecution(execution_id="ex-1", actor=ACTOR),
        RetryExecution(
            execution_id="ex-1",
            from_step="charge",
            input={"a": 1},
            new_execution_id="ex-2",
            actor=ACTOR,
        ),
        TimerFired(execution_id="ex-1", timer="retry", step_id="charge", attempt=2, due_at=NOW),
    ],
    "step-command": [step_command(), step_command(input=None, deadline=None, input_ref="s3://x")],
    "step-result": [
        step_result(),
        step_result(
            ok=False,
            output=None,
            error=StepError(type="Timeout", message="slow", retryable=False, details={"s": 3}),
        ),
    ],
    "lifecycle-event": [
        LifecycleEvent(
            execution_id="ex-1",
            type="step.retrying",
            workflow="orders",
            workflow_version=3,
            step_id="charge",
            attempt=2,
            status="retrying",
            data={"delayMs": 500},
            actor=ACTOR,
        )
    ],
    "dead-letter": [
        dead_letter(
            source_topic="wf.steps.results",
            original=b'{"executionId": "ex-1", "bad": true}',
            reason="nope",
            error_type="validation",
            service="orchestrator",
            partition=3,
            offset=42,
            key=b"ex-1",
        )
    ],
}
ALL_SAMPLES = [(stem, msg) for stem, msgs in SAMPLES.items() for msg in msgs]


def test_samples_cover_every_schema() -> None:
    assert set(SAMPLES) == set(generate.SCHEMAS)


@pytest.mark.parametrize(("stem", "msg"), ALL_SAMPLES)
def test_round_trip_with_camel_case_on_the_wire(stem: str, msg: BaseModel) -> None:
    data = encode(msg)
    wire = json.loads(data)
    assert data == json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode()
    assert set(wire) == {to_camel(name) for name in type(msg).model_fields}
    assert wire["schemaVersion"] == 1
    decoded = decode_control(data) if stem == "control-command" else decode(type(msg), data)
    assert decoded == msg
    assert type(decoded) is type(msg)


def test_null_fields_are_kept_on_the_wire() -> None:
    wire = json.loads(encode(step_command(deadline=None)))
    assert wire["deadline"] is None
    assert wire["inputRef"] is None


def test_snake_case_names_also_accepted_in_python() -> None:
    msg = step_command()
    assert StepCommand.model_validate(msg.model_dump()) == msg


def test_missing_field_is_named() -> None:
    wire = json.loads(encode(step_command()))
    del wire["stepId"]
    with pytest.raises(ContractError) as info:
        decode(StepCommand, json.dumps(wire).encode())
    assert info.value.field == "stepId"
    assert "stepId: Field required" in info.value.reason
    assert info.value.code == "validation"


def test_nested_field_path_is_named() -> None:
    wire = json.loads(encode(SAMPLES["step-result"][1]))
    wire["error"]["retryable"] = "perhaps"
    with pytest.raises(ContractError) as info:
        decode(StepResult, json.dumps(wire).encode())
    assert info.value.field == "error.retryable"


def test_extra_fields_refused() -> None:
    wire = json.loads(encode(step_command())) | {"surprise": 1}
    with pytest.raises(ContractError) as info:
        decode(StepCommand, json.dumps(wire).encode())
    assert info.value.field == "surprise"
    assert "Extra inputs are not permitted" in info.value.reason


def test_unsupported_schema_version_refused_clearly() -> None:
    wire = json.loads(encode(step_command())) | {"schemaVersion": 2}
    with pytest.raises(ContractError) as info:
        decode(StepCommand, json.dumps(wire).encode())
    assert info.value.code == "unsupported_schema_version"
    assert info.value.reason == "unsupported schemaVersion 2; supported: 1"


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"\xff\xfe", "invalid_utf8", "invalid UTF-8"),
        (b'{"executionId": ', "invalid_json", "invalid JSON"),
        (b"[1, 2]", "not_object", "got array"),
        (b"null", "not_object", "got null"),
    ],
)
def test_garbage_refused_with_reason(data: bytes, code: str, words: str) -> None:
    with pytest.raises(ContractError) as info:
        decode(StepResult, data)
    assert info.value.code == code
    assert words in info.value.reason


def test_oversized_refused() -> None:
    data = encode(step_command(input="x" * 2000))
    with pytest.raises(ContractError) as info:
        decode(StepCommand, data, max_bytes=1000)
    assert info.value.code == "too_large"
    assert "1000-byte limit" in info.value.reason
    big = encode(step_command(input="x" * MAX_MESSAGE_BYTES))
    with pytest.raises(ContractError, match="limit"):
        decode(StepCommand, big)


def test_control_errors_name_kind_and_field() -> None:
    with pytest.raises(ContractError) as info:
        decode_control(b'{"kind": "explode", "executionId": "ex-1"}')
    assert info.value.field == "kind"
    with pytest.raises(ContractError) as info:
        decode_control(b'{"kind": "cancel", "executionId": "ex-1"}')
    assert info.value.field == "actor"


def test_naive_datetimes_refused() -> None:
    with pytest.raises(ValidationError):
        TimerFired(
            execution_id="e", timer="sleep", step_id="s", attempt=1, due_at=datetime(2030, 1, 1)
        )


def test_models_are_frozen() -> None:
    msg = step_command()
    with pytest.raises(ValidationError):
        msg.attempt = 3  # type: ignore[misc]


def test_extra_refused_in_python_too() -> None:
    with pytest.raises(ValidationError):
        Actor(kind="api", nickname="x")  # type: ignore[call-arg]


def test_ok_and_error_must_agree() -> None:
    with pytest.raises(ValidationError, match="ok=false requires an error"):
        step_result(ok=False, output=None)
    with pytest.raises(ValidationError, match="ok=true must not carry an error"):
        step_result(error=StepError(type="X", message="y"))
    assert StepError(type="X", message="y").retryable is True


def test_defaults_fill_envelope() -> None:
    a, b = (
        PauseExecution(execution_id="e", actor=ACTOR),
        PauseExecution(execution_id="e", actor=ACTOR),
    )
    assert a.message_id != b.message_id
    assert a.occurred_at.tzinfo is not None
    assert a.kind == "pause"


def test_command_id_and_event_types() -> None:
    assert command_id("ex", "step", 3) == "ex:step:3"
    assert "execution.waiting" in LIFECYCLE_EVENT_TYPES
    assert (
        len(set(LIFECYCLE_EVENT_TYPES)) == 24
    )  # + signalled/.../loop.iteration, migrated/_skipped


def test_topics_prefix_and_function_names() -> None:
    topics = Topics.with_prefix("dev.")
    assert topics.start == "dev.wf.executions.start"
    assert topics.dlq == "dev.wf.dlq"
    assert topics.function("payments.charge") == "dev.wf.fn.payments.charge"
    assert Topics.with_prefix().step_results == "wf.steps.results"
    for bad in ["", "9lives", "has space", "a/b", "x" * 202]:
        with pytest.raises(ValueError, match="invalid function name"):
            topics.function(bad)
    with pytest.raises(ValueError, match="invalid topic prefix"):
        Topics.with_prefix("bad prefix")


def test_step_command_function_validated() -> None:
    with pytest.raises(ValidationError):
        step_command(function="no spaces")


def test_dead_letter_keeps_original_bytes() -> None:
    raw = b"\xff\x00not text"
    letter = dead_letter(
        source_topic="wf.executions.start", original=raw, reason="r", error_type="invalid_utf8",
        service="orchestrator",
    )  # fmt: skip
    assert base64.b64decode(letter.original_b64) == raw
    assert letter.original_text is None
    assert letter.execution_id is None
    assert decode(DeadLetter, encode(letter)) == letter


def test_dead_letter_text_truncated() -> None:
    raw = json.dumps({"executionId": "ex-9", "pad": "é" * 70_000}).encode()
    letter = dead_letter(
        source_topic="t", original=raw, reason="r", error_type="too_large", service="s"
    )
    assert letter.original_text is not None
    assert len(letter.original_text.encode()) <= 64 * 1024
    assert letter.execution_id == "ex-9"


# --- generated files -------------------------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    expected = generate.render()
    for path, text in expected.items():
        on_disk = generate.CONTRACTS_DIR / path
        assert on_disk.is_file(), f"contracts/{path} missing: run `make contracts`"
        assert on_disk.read_text(encoding="utf-8") == text, (
            f"contracts/{path} is stale: run `make contracts`"
        )
    assert generate.stale() == [], "stale generated files: run `make contracts`"


def test_generation_is_deterministic() -> None:
    assert generate.render() == generate.render()


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    (tmp_path / "schemas" / "step-result.schema.json").write_text("{}\n")
    (tmp_path / "schemas" / "old.schema.json").write_text("{}\n")
    assert generate.stale(tmp_path) == [
        "schemas/old.schema.json",
        "schemas/step-result.schema.json",
    ]
    assert generate.write(tmp_path) == [
        "schemas/old.schema.json",
        "schemas/step-result.schema.json",
    ]
    assert generate.stale(tmp_path) == []
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0
    (tmp_path / "asyncapi.yaml").unlink()
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "stale: contracts/asyncapi.yaml" in err
    assert "run `make contracts`" in err


def load_schema(stem: str) -> dict[str, Any]:
    path = generate.CONTRACTS_DIR / "schemas" / f"{stem}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize("stem", sorted(generate.SCHEMAS))
def test_schema_files_are_valid_json_schema(stem: str) -> None:
    schema = load_schema(stem)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{stem}.schema.json")
    assert schema["title"] == generate.SCHEMAS[stem][0]


@pytest.mark.parametrize(("stem", "msg"), ALL_SAMPLES)
def test_schema_files_accept_encoded_messages(stem: str, msg: BaseModel) -> None:
    validator = jsonschema.Draft202012Validator(
        load_schema(stem), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(encode(msg)))


@pytest.mark.parametrize(
    ("stem", "change"),
    [
        ("step-command", {"surprise": 1}),
        ("step-command", {"attempt": 0}),
        ("step-command", {"function": "has space"}),
        ("step-command", {"stepId": None}),
        ("control-command", {"kind": "explode"}),
        ("step-result", {"schemaVersion": 2}),
        ("lifecycle-event", {"type": "step.exploded"}),
    ],
)
def test_schema_files_refuse_what_decode_refuses(stem: str, change: dict[str, Any]) -> None:
    wire = json.loads(encode(SAMPLES[stem][0])) | change
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wire, load_schema(stem), cls=jsonschema.Draft202012Validator)
    data = json.dumps(wire).encode()
    if stem == "control-command":
        with pytest.raises(ContractError):
            decode_control(data)
    else:
        with pytest.raises(ContractError):
            decode(type(SAMPLES[stem][0]), data)


def test_control_schema_requires_kind() -> None:
    wire = json.loads(encode(SAMPLES["control-command"][1]))
    del wire["kind"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wire, load_schema("control-command"))


def test_asyncapi_lists_every_topic() -> None:
    doc = yaml.safe_load((generate.CONTRACTS_DIR / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert doc["asyncapi"] == "2.6.0"
    channels = doc["channels"]
    fixed = Topics.with_prefix().fixed()
    assert set(fixed) == {f.name for f in dataclasses.fields(Topics)} - {"prefix"}
    for topic in Topics.with_prefix().fixed().values():
        assert topic in channels, f"{topic} missing from asyncapi.yaml"
    assert "wf.fn.{function}" in channels
    assert set(channels["wf.fn.{function}"]["parameters"]) == {"function"}
    messages = doc["components"]["messages"]
    for channel in channels.values():
        for op in ("publish", "subscribe"):
            name = channel[op]["message"]["$ref"].rsplit("/", 1)[-1]
            payload = messages[name]["payload"]["$ref"]
            assert (generate.CONTRACTS_DIR / payload).is_file()
            assert messages[name]["bindings"]["kafka"]["key"]["type"] == "string"
