"""Outbox entries as stored in Redis (services/orchestrator/entries.py): a `msg` entry keeps
its encoded message as it is (not escaped into JSON), every other kind is a JSON list, and
what was written as JSON before still reads back."""

from __future__ import annotations

import json

from workflows.contracts import StepCommand, encode
from workflows.services.orchestrator.entries import pack, unpack

VALUE = encode(
    StepCommand(
        execution_id="e1",
        command_id="e1:s1:1",
        workflow="w",
        workflow_version=1,
        step_id="s1",
        function="f",
        input={"note": 'quotes " and \\ and unit sep \x1f and é'},
        attempt=1,
        idempotency_key="e1:s1:1",
    )
).decode()


def test_a_message_entry_keeps_its_value_verbatim_and_reads_back() -> None:
    entry = ["msg", "wf.steps.commands", "e1", VALUE]
    raw = pack(entry)
    assert raw.endswith(VALUE) and raw.startswith("m")  # not escaped into a JSON string
    assert unpack(raw) == entry


def test_a_trace_context_rides_along() -> None:
    entry = ["msg", "wf.steps.commands", "e1", VALUE, {"traceparent": "00-ab-cd-01"}]
    assert unpack(pack(entry)) == entry


def test_a_key_holding_the_separator_falls_back_to_json() -> None:
    entry = ["msg", "wf.steps.commands", "odd\x1fid", VALUE]
    raw = pack(entry)
    assert json.loads(raw) == entry
    assert unpack(raw) == entry


def test_other_kinds_are_json_lists() -> None:
    for entry in (["timer", "e1|retry|s1|1", 1234], ["index", "e1", 5], ["kpi", "w", "{}", 7]):
        raw = pack(entry)
        assert json.loads(raw) == entry
        assert unpack(raw) == entry


def test_message_entries_written_as_json_before_still_read() -> None:
    old = json.dumps(["msg", "wf.executions.events", "e1", VALUE, {"traceparent": "x"}])
    assert unpack(old) == ["msg", "wf.executions.events", "e1", VALUE, {"traceparent": "x"}]
