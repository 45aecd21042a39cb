"""Business KPIs and audit redaction in the pure core (no broker, no Redis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from workflows.contracts.topics import Topics
from workflows.files import load_definition_file
from workflows.services.core.engine import (
    apply_step_result,
    cancel_execution,
    fire_timer,
    retry_execution,
    start_execution,
)
from workflows.services.core.kpis import aggregate_outcomes, as_number, percentile, summarize
from workflows.services.core.redaction import MASK, mask_input, redact, secret_values
from workflows.services.core.state import ExecutionState
from workflows.services.core.validation import compile_workflow
from workflows.services.orchestrator.entries import unpack
from workflows.services.orchestrator.outbox import outbox_entries

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEED = load_definition_file(
    Path(__file__).resolve().parents[2] / "examples" / "customer_onboarding.yaml"
)
PRO = {"customerId": "c1", "plan": "professional", "industry": "health", "companySize": "medium"}
ACCOUNT = {"customerEmail": "a@b.c", "companyName": "A", "accountUrl": "u"}
PLAN = {"onboardingStatus": "in_progress", "nextSteps": ["x"], "estimatedTimeToValue": 10}


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def ok(wf: Any, state: ExecutionState, step: str, output: Any, ms: int) -> Any:
    attempt = state.steps[step].attempt
    return apply_step_result(wf, state, step, attempt, at(ms), ok=True, output=output)


def run_seed(account: dict[str, Any]) -> tuple[ExecutionState, list[Any]]:
    t = start_execution(SEED, "e1", PRO, T0)
    state, events = t.state, list(t.events)
    for ms, (step, output) in enumerate(
        [
            ("accountSetup", account),
            ("welcomeEmail", {}),
            ("resourceAllocation", {"seats": 5}),
            ("createSuccessPlan", PLAN),
        ],
        start=1,
    ):
        events += ok(SEED, state, step, output, ms * 1000).events
    return state, events


def test_the_seed_measures_its_three_kpis_when_it_completes() -> None:
    state, events = run_seed({**ACCOUNT, "_kpis": {"timeToFirstLogin": 45}})
    assert state.status.value == "completed"
    expected = {"timeToFirstLogin": 45.0, "onboardingCompletionRate": 100.0, "timeToValue": 10.0}
    assert state.kpis == expected
    assert state.kpis_missing == {}
    assert events[-1].type == "execution.completed"
    assert events[-1].data["kpis"] == expected


def test_reported_kpis_are_taken_out_of_the_step_output() -> None:
    state, events = run_seed({**ACCOUNT, "_kpis": {"timeToFirstLogin": 45}})
    assert state.steps["accountSetup"].output == ACCOUNT
    assert state.steps["accountSetup"].kpis == {"timeToFirstLogin": 45}
    succeeded = next(e for e in events if e.type == "step.succeeded")
    assert "_kpis" not in succeeded.data["output"]


def test_an_unreported_kpi_is_missing_with_the_reason() -> None:
    state, events = run_seed(ACCOUNT)
    assert "timeToFirstLogin" not in state.kpis
    assert "not reported by any step" in state.kpis_missing["timeToFirstLogin"]
    assert "timeToFirstLogin" in events[-1].data["kpisMissing"]


def _workflow(metrics: list[dict[str, Any]]) -> Any:
    return compile_workflow(
        {
            "name": "kpiDemo",
            "steps": [
                {"id": "a", "function": "f"},
                {"id": "b", "function": "g"},
                {"id": "c", "function": "h", "condition": "{{false}}"},
            ],
            "metrics": metrics,
        }
    )


def test_between_is_ms_from_the_first_start_to_the_finish() -> None:
    wf = _workflow(
        [
            {"name": "aToB", "between": ["a", "b"]},
            {"name": "aToC", "between": ["a", "c"]},
            {"name": "cToB", "between": ["c", "b"]},
        ]
    )
    state = start_execution(wf, "e1", {}, T0).state
    ok(wf, state, "a", {}, 250)
    ok(wf, state, "b", {}, 1250)
    assert state.status.value == "completed"
    assert state.kpis == {"aToB": 1250.0}
    assert state.kpis_missing == {
        "aToC": "step 'c' did not succeed (skipped)",
        "cToB": "step 'c' did not start",
    }


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{a.n}}", 3.5),
        ("{{a.flag}}", 1.0),
        ("{{!a.flag}}", 0.0),
        ("{{len(a.items)}}", 2.0),
        ("{{execution.durationMs}}", 2000.0),
        ("{{a.text}}", "not a number: 'seven' (str)"),
        ("{{a.nothing}}", "not a number: undefined (null)"),
        ("{{a.items}}", "not a number: ['x', 'y'] (list)"),
        ("{{a.n / 0}}", "not a number: undefined (null)"),
    ],
)
def test_value_templates_must_give_a_number(template: str, expected: float | str) -> None:
    wf = _workflow([{"name": "k", "value": template}])
    state = start_execution(wf, "e1", {}, T0).state
    output = {"n": 3.5, "flag": True, "items": ["x", "y"], "text": "seven"}
    ok(wf, state, "a", output, 1000)
    ok(wf, state, "b", {}, 2000)
    if isinstance(expected, float):
        assert state.kpis == {"k": expected}
    else:
        assert state.kpis_missing == {"k": expected}


def test_kpis_are_evaluated_when_an_execution_fails_too() -> None:
    t = start_execution(SEED, "e1", PRO, T0)
    state = t.state
    ok(SEED, state, "accountSetup", {**ACCOUNT, "_kpis": {"timeToFirstLogin": 30}}, 100)
    final = cancel_execution(SEED, state, at(200), "left", {"kind": "user", "id": "ops"})
    assert final.state.status.value == "cancelled"
    assert final.state.kpis == {"timeToFirstLogin": 30.0, "onboardingCompletionRate": 0.0}
    assert set(final.state.kpis_missing) == {"timeToValue"}
    assert final.events[-1].data["kpis"] == final.state.kpis


def test_a_retried_execution_keeps_the_kpis_of_the_steps_it_keeps() -> None:
    wf = compile_workflow(
        {
            "name": "k",
            "steps": [{"id": "a", "function": "f"}, {"id": "b", "function": "g"}],
            "metrics": [{"name": "reportedByA"}],
        }
    )
    state = start_execution(wf, "e1", {}, T0).state
    ok(wf, state, "a", {"_kpis": {"reportedByA": 7}}, 10)
    apply_step_result(wf, state, "b", 1, at(20), ok=False, error={"type": "X", "retryable": False})
    assert state.status.value == "failed" and state.kpis == {"reportedByA": 7.0}
    again = retry_execution(wf, state, "e2", at(30)).state
    ok(wf, again, "b", {}, 40)
    assert again.status.value == "completed" and again.kpis == {"reportedByA": 7.0}


def test_numbers_percentiles_and_aggregates() -> None:
    assert as_number(True) == 1.0 and as_number(2) == 2.0
    assert isinstance(as_number(float("nan")), str)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert summarize([]) == {
        "count": 0,
        "mean": None,
        "p50": None,
        "p95": None,
        "min": None,
        "max": None,
    }
    values = [float(v) for v in range(1, 101)]
    stats = summarize(values)
    assert stats["count"] == 100 and stats["mean"] == 50.5
    assert stats["p50"] == pytest.approx(50.5) and stats["p95"] == pytest.approx(95.05)
    samples = [
        {"status": "completed", "durationMs": 100, "kpis": {"k": 1, "rate": 100}},
        {"status": "completed", "durationMs": 300, "kpis": {"k": 3, "rate": 100}},
        {"status": "failed", "durationMs": 5, "kpis": {"rate": 0}},
    ]
    totals = aggregate_outcomes(samples)
    assert totals["executions"] == 3
    assert totals["byStatus"] == {"completed": 2, "failed": 1}
    assert totals["completionRate"] == pytest.approx(2 / 3)
    assert totals["durationMs"]["p50"] == 200.0
    assert totals["kpis"]["k"]["count"] == 2 and totals["kpis"]["k"]["missing"] == 1
    assert totals["kpis"]["rate"]["mean"] == pytest.approx(200 / 3)
    assert aggregate_outcomes([])["completionRate"] is None


# -- redaction ---------------------------------------------------------------------------------
SECRET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "user": {"type": "string"},
        "apiKey": {"type": "string", "writeOnly": True},
        "pin": {"type": "integer", "x-secret": True},
        "login": {"$ref": "#/$defs/Login"},
        "cards": {"type": "array", "items": {"type": "string", "format": "password"}},
        "maybe": {"anyOf": [{"type": "string", "writeOnly": True}, {"type": "null"}]},
    },
    "$defs": {"Login": {"type": "object", "properties": {"password": {"format": "password"}}}},
}
SECRET_INPUT: dict[str, Any] = {
    "user": "ann",
    "apiKey": "sk-live-123456",
    "pin": 4321,
    "login": {"password": "hunter22", "name": "ann"},
    "cards": ["4111111111111111"],
    "maybe": None,
}


def test_mask_input_masks_every_field_the_schema_marks_secret() -> None:
    assert mask_input(SECRET_SCHEMA, SECRET_INPUT) == {
        "user": "ann",
        "apiKey": MASK,
        "pin": MASK,
        "login": {"password": MASK, "name": "ann"},
        "cards": [MASK],
        "maybe": None,
    }
    assert SECRET_INPUT["apiKey"] == "sk-live-123456"  # not changed in place
    assert mask_input(None, {"a": 1}) == {"a": 1}


def test_redact_masks_secret_strings_anywhere() -> None:
    secrets = secret_values(SECRET_SCHEMA, SECRET_INPUT)
    assert set(secrets) == {"sk-live-123456", "hunter22", "4111111111111111"}
    data = {
        "input": {"auth": "Bearer sk-live-123456", "list": ["hunter22", 4321]},
        "error": {"message": "card 4111111111111111 declined"},
    }
    assert redact(data, secrets) == {
        "input": {"auth": f"Bearer {MASK}", "list": [MASK, 4321]},
        "error": {"message": f"card {MASK} declined"},
    }
    assert redact(data, ()) is data


def _secret_workflow() -> Any:
    return compile_workflow(
        {
            "name": "secretive",
            "input": {
                "type": "object",
                "properties": {"apiKey": {"type": "string", "writeOnly": True}},
            },
            "steps": [
                {
                    "id": "call",
                    "function": "callApi",
                    "input": {"header": "Bearer {{input.apiKey}}"},
                    "timeout": 1000,
                    "retry": {"maxAttempts": 2, "backoff": {"initialDelay": 10}},
                }
            ],
        }
    )


def test_secrets_reach_the_step_command_but_not_the_audit_trail() -> None:
    wf = _secret_workflow()
    t = start_execution(wf, "e1", {"apiKey": "sk-live-123456"}, T0, actor={"kind": "api"})
    assert t.dispatches[0].input == {"header": "Bearer sk-live-123456"}
    state = t.state
    failed = apply_step_result(
        wf,
        state,
        "call",
        1,
        at(5),
        ok=False,
        error={"type": "Http", "message": "401 for key sk-live-123456"},
    )
    retried = fire_timer(wf, state, "retry", "call", 1, at(20))
    assert retried.dispatches[0].input == {"header": "Bearer sk-live-123456"}
    done = ok(wf, state, "call", {"echo": "sk-live-123456"}, 30)
    assert state.status.value == "completed"
    trail = json.dumps([e.model_dump(mode="json") for e in state.history])
    assert "sk-live-123456" not in trail
    assert state.history[0].data["input"] == {"apiKey": MASK}
    entries = [
        *outbox_entries(t, Topics.with_prefix(), new=True),
        *outbox_entries(failed, Topics.with_prefix()),
        *outbox_entries(done, Topics.with_prefix()),
    ]
    published = [e for e in entries if unpack(e)[:2] == ["msg", "wf.executions.events"]]
    assert published and not any("sk-live-123456" in e for e in published)


def test_actors_say_who_caused_each_entry() -> None:
    wf = _secret_workflow()
    api = {"kind": "api", "id": None}
    t = start_execution(wf, "e1", {"apiKey": "k"}, T0, actor=api)
    assert [(e.type, e.actor) for e in t.events] == [
        ("execution.started", api),
        ("step.started", api),
    ]
    state = t.state
    timed_out = fire_timer(wf, state, "timeout", "call", 1, at(1000))
    assert {e.type for e in timed_out.events} == {"step.timed_out", "step.retrying"}
    assert all(e.actor == {"kind": "system"} for e in timed_out.events)
    retried = fire_timer(wf, state, "retry", "call", 1, at(1100))
    assert [(e.type, e.actor) for e in retried.events] == [("step.started", {"kind": "system"})]
    done = ok(wf, state, "call", {}, 1200)
    assert all(e.actor == {"kind": "system"} for e in done.events)


def test_outbox_publishes_each_audit_entry_once_and_samples_the_end() -> None:
    topics = Topics.with_prefix("p.")
    t = start_execution(SEED, "e1", PRO, T0)
    first = [unpack(e) for e in outbox_entries(t, topics, new=True)]
    events = [e for e in first if e[0] == "msg" and e[1] == topics.events]
    assert [json.loads(e[3])["type"] for e in events] == [e.type for e in t.events]
    assert len(events) == 2 and all(e[2] == "e1" for e in events)
    assert len([e for e in first if e[0] == "msg"]) == 2 + len(t.dispatches)  # no copies
    assert not any(e[0] == "kpi" for e in first)
    state = t.state
    for step, output in [
        ("accountSetup", {**ACCOUNT, "_kpis": {"timeToFirstLogin": 45}}),
        ("welcomeEmail", {}),
        ("resourceAllocation", {}),
    ]:
        ok(SEED, state, step, output, 10)
    last = ok(SEED, state, "createSuccessPlan", PLAN, 1500)
    samples = [unpack(e) for e in outbox_entries(last, topics) if unpack(e)[0] == "kpi"]
    assert len(samples) == 1
    _, workflow, member, ended_ms = samples[0]
    assert workflow == "customerOnboardingWorkflow"
    assert ended_ms == int(at(1500).timestamp() * 1000)
    assert json.loads(member) == {
        "id": "e1",
        "version": SEED.version,
        "status": "completed",
        "durationMs": 1500,
        "kpis": {"timeToFirstLogin": 45.0, "onboardingCompletionRate": 100.0, "timeToValue": 10.0},
    }
