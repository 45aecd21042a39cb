"""`{{trigger.*}}`: the event or schedule that started an execution (issue 17 item 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from workflows.contracts import (
    Actor,
    StartExecution,
    StartTrigger,
    TriggerEvent,
    TriggerSchedule,
    decode,
)
from workflows.contracts import encode as encode_message
from workflows.services.core.engine import start_execution
from workflows.services.core.triggers import parse_event
from workflows.services.core.validation import compile_workflow
from workflows.services.orchestrator.handlers import transition_for

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def workflow(input_: dict[str, Any]) -> Any:
    return compile_workflow(
        {"name": "wf", "steps": [{"id": "a", "function": "f", "input": input_}]}
    )


def test_an_event_start_renders_trigger_event_fields() -> None:
    event = parse_event(
        b'{"type": "order.placed", "id": "ev-1", "source": "shop", "time": "2026-01-02T03:04:05Z",'
        b' "data": {"x": 41}}',
        "",
        "fallback",
        10_000,
    )
    start = StartExecution(
        execution_id="e1",
        workflow="wf",
        actor=Actor(kind="event", id=event.id),
        trigger=StartTrigger(event=TriggerEvent.bounded(event.data, 1024, **event.meta())),
    )
    wf = workflow(
        {
            "x": "{{trigger.event.data.x}}",
            "type": "{{trigger.event.type}}",
            "source": "{{trigger.event.source}}",
            "kind": "{{trigger.kind}}",
            "id": "{{trigger.id}}",
        }
    )
    # the start goes over the wire, then through the orchestrator's handler
    wire = decode(StartExecution, encode_message(start))
    transition = transition_for(wire, wf, None, now=T0)
    assert transition.dispatches[0].input == {
        "x": 41,
        "type": "order.placed",
        "source": "shop",
        "kind": "event",
        "id": "ev-1",
    }
    assert transition.state.trigger == {
        "event": {
            "id": "ev-1",
            "type": "order.placed",
            "source": "shop",
            "time": "2026-01-02T03:04:05Z",
            "data": {"x": 41},
        }
    }


def test_a_schedule_start_renders_the_fire_time() -> None:
    schedule = TriggerSchedule(id="nightly", scheduled_at=T0, cron_expression="4 3 * * *")
    start = StartExecution(
        execution_id="e1",
        workflow="wf",
        actor=Actor(kind="schedule", id="nightly"),
        trigger=StartTrigger(schedule=schedule),
    )
    wf = workflow(
        {"at": "{{trigger.schedule.scheduledAt}}", "cron": "{{trigger.schedule.cronExpression}}"}
    )
    transition = transition_for(start, wf, None, now=T0)
    assert transition.dispatches[0].input == {"at": "2026-01-02T03:04:05Z", "cron": "4 3 * * *"}


def test_an_api_start_has_kind_and_caller_only() -> None:
    wf = workflow(
        {
            "kind": "{{trigger.kind}}",
            "who": "{{trigger.id}}",
            "ev": "{{trigger.event | default: 'none'}}",
        }
    )
    state = start_execution(wf, "e1", {}, T0, actor={"kind": "api", "id": "alice"})
    assert state.dispatches[0].input == {"kind": "api", "who": "alice", "ev": "none"}


def test_event_data_over_the_limit_is_left_out_with_the_reason() -> None:
    event = TriggerEvent.bounded({"blob": "x" * 5000}, 1024, id="ev-2", type="a.b")
    assert event.data is None
    assert event.data_omitted == (
        "event data of 5011 bytes is over the 1024-byte limit of trigger.event"
    )
    start = StartExecution(
        execution_id="e1",
        workflow="wf",
        actor=Actor(kind="event"),
        trigger=StartTrigger(event=event),
    )
    assert len(encode_message(start)) < 1024


def test_a_start_without_trigger_still_decodes() -> None:
    """Backward compatible: producers that never send `trigger` (older SDKs) are accepted."""
    raw = b'{"schemaVersion": 1, "executionId": "e1", "workflow": "wf", "actor": {"kind": "api"}}'
    start = decode(StartExecution, raw)
    assert start.trigger is None


def test_simulate_prints_the_path_with_a_trigger(capsys: Any) -> None:
    from workflows.cli import main

    trigger = '{"event": {"id": "ev-1", "type": "order.placed", "data": {"amount": 42}}}'
    with pytest.raises(SystemExit) as done:
        main(["simulate", "tests/definitions/trigger_event.yaml", "--trigger", trigger])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert 'input {"amount":42,"why":"order.placed from event ev-1"}' in out
