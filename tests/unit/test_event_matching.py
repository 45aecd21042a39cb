"""Event triggers without I/O: wildcards, filters, input templates, ids, envelopes, validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workflows.services.core.issues import DefinitionError
from workflows.services.core.triggers import (
    Event,
    EventError,
    TriggerError,
    compile_triggers,
    event_execution_id,
    parse_event,
    type_matches,
)
from workflows.services.core.validation import compile_workflow


def definition(*triggers: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "welcome",
        "steps": [{"id": "greet", "function": "sendWelcome"}],
        "triggers": list(triggers),
    }


@pytest.mark.parametrize(
    ("pattern", "event_type", "matches"),
    [
        ("customer.signed_up", "customer.signed_up", True),
        ("customer.*", "customer.signed_up", True),
        ("customer.*", "customer.plan.changed", False),
        ("*.signed_up", "customer.signed_up", True),
        ("*", "anything.at_all", True),
        ("customer.*", "order.created", False),
        ("customer.signed_up", "customer.signed", False),
    ],
)
def test_type_matching(pattern: str, event_type: str, matches: bool) -> None:
    assert type_matches(pattern, event_type) is matches


def test_filter_and_input_render_over_the_event() -> None:
    compiled = compile_workflow(
        definition(
            {
                "event": "customer.*",
                "filter": "{{event.plan !== 'free'}}",
                "input": {"customerId": "{{event.id}}", "tier": "{{upper(event.plan)}}"},
            }
        )
    )
    (trigger,) = compile_triggers(compiled.definition, 3)
    assert trigger.workflow == "welcome" and trigger.version == 3
    assert trigger.evaluate({"id": "c1", "plan": "pro"}) == {"customerId": "c1", "tier": "PRO"}
    assert trigger.evaluate({"id": "c2", "plan": "free"}) is None


def test_without_input_the_payload_is_the_input() -> None:
    (trigger,) = compile_triggers(compile_workflow(definition({"event": "a.b"})).definition, 1)
    assert trigger.evaluate({"x": 1}) == {"x": 1}
    with pytest.raises(TriggerError, match="must be an object"):
        trigger.evaluate([1, 2])


def test_trigger_templates_may_only_read_event() -> None:
    with pytest.raises(DefinitionError) as refused:
        compile_workflow(
            definition(
                {"event": "a.b", "filter": "{{input.x}}", "input": {"y": "{{greet.out}}"}},
                {"event": "a.b", "filter": "{{event.x ===}}"},
            )
        )
    issues = {(i.path, i.message.split(":")[0]) for i in refused.value.issues}
    assert ("triggers[0].filter", "unknown reference 'input'") in issues
    assert ("triggers[0].input.y", "unknown reference 'greet'") in issues
    assert any(path == "triggers[1].filter" for path, _ in issues)


def test_bad_event_patterns_are_refused() -> None:
    with pytest.raises(DefinitionError) as refused:
        compile_workflow(definition({"event": "customer signed up"}))
    assert refused.value.issues[0].path.startswith("triggers[0].event")


def test_execution_ids_depend_on_event_and_workflow_only() -> None:
    event = Event("customer.signed_up", "evt-1", {"a": 1})
    again = Event("customer.signed_up", "evt-1", {"a": 2})
    assert event_execution_id(event, "welcome") == event_execution_id(again, "welcome")
    assert event_execution_id(event, "welcome") != event_execution_id(event, "billing")
    other = Event("customer.signed_up", "evt-2", {"a": 1})
    assert event_execution_id(other, "welcome") != event_execution_id(event, "welcome")
    assert event_execution_id(event, "welcome").startswith("evt-welcome-")


def test_envelopes_and_plain_values() -> None:
    envelope = {"type": "customer.signed_up", "id": "e1", "data": {"plan": "pro"}}
    assert parse_event(json.dumps(envelope).encode(), "", "t:0:5", 1000) == Event(
        "customer.signed_up", "e1", {"plan": "pro"}
    )
    no_id = {"type": "customer.signed_up", "data": 1}
    assert parse_event(json.dumps(no_id).encode(), "", "t:0:5", 1000).id == "t:0:5"
    assert parse_event(b'{"plan": "pro"}', "customer.signed_up", "t:1:9", 1000) == Event(
        "customer.signed_up", "t:1:9", {"plan": "pro"}
    )


@pytest.mark.parametrize(
    ("value", "mapped", "code"),
    [
        (b"not json", "", "invalid_json"),
        (b"not json", "a.b", "invalid_json"),
        (b'{"data": {}}', "", "invalid_envelope"),
        (b'["customer.signed_up"]', "", "invalid_envelope"),
        (b'{"type": "nodots", "data": {}}', "", "invalid_event_type"),
        (b'{"type": "a.b", "payload": {}}', "", "invalid_envelope"),
        (b'{"type": "a.b", "id": "", "data": {}}', "", "malformed_event"),
        (b'{"type": "a.b", "id": true, "data": {}}', "", "malformed_event"),
        (b"x" * 2000, "a.b", "too_large"),
    ],
)
def test_malformed_events_are_refused_with_a_reason(value: bytes, mapped: str, code: str) -> None:
    with pytest.raises(EventError) as refused:
        parse_event(value, mapped, "t:0:0", 1000)
    assert refused.value.code == code and refused.value.reason
