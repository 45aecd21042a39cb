"""Spans and span events for what happens between attempts (issue 19 item 1), with the OTel
SDK's in-memory exporter: the orchestrator's retry waits, waits, fallbacks and child starts
(workflows.services.orchestrator.trace_events), the dispatcher's own results, the notifier's
sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from workflows.files import load_definition_file
from workflows.services.core.effects import DispatchStep, Transition
from workflows.services.core.simulate import simulate
from workflows.services.infra import tracing
from workflows.services.notifier.service import send_span
from workflows.services.orchestrator.trace_events import record_transition

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"
PARENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, every span ended kept in memory (one SDK provider for the process)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    monkeypatch.setattr(tracing, "_enabled", True)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def test_retry_waits_are_events_on_the_orchestrators_span(spans: InMemorySpanExporter) -> None:
    result = simulate(
        load_definition_file(DEFINITIONS / "error_classes.yaml"),
        {},
        fail={"charge=CardNetworkTimeout"},
    )
    delays = [e.data["delayMs"] for e in result.events if e.type == "step.retrying"]
    assert len(delays) >= 2
    with tracing.span("orchestrate StepResult", PARENT) as span:
        record_transition(span, Transition(state=result.state, events=list(result.events)))
    (done,) = spans.get_finished_spans()
    assert done.context.trace_id == int(PARENT["traceparent"].split("-")[1], 16)
    retries = [e for e in done.events if e.name == "step.retrying"]
    assert [e.attributes["delayMs"] for e in retries] == delays
    first = retries[0].attributes
    assert first["step.id"] == "charge" and first["step.attempt"] == 1
    assert first["error.type"] == "CardNetworkTimeout"
    assert first["nextAttempt"] == 2 and isinstance(first["retryAt"], str)
    kept = {e.name for e in done.events}
    assert "step.started" not in kept and "step.failed" not in kept  # attempts are spans


def test_a_child_workflow_start_is_an_event(spans: InMemorySpanExporter) -> None:
    result = simulate(
        load_definition_file(DEFINITIONS / "error_classes.yaml"), {}, mocks={"charge": {}}
    )
    child = DispatchStep("kyc", "workflow:verifyCustomer", {}, 2, None, False)
    with tracing.span("orchestrate StepResult", PARENT) as span:
        record_transition(span, Transition(state=result.state, dispatches=[child]))
    (event,) = spans.get_finished_spans()[0].events
    assert event.name == "child.started"
    assert event.attributes["child.workflow"] == "verifyCustomer"
    assert event.attributes["child.execution_id"] == f"{result.state.execution_id}-kyc-2"


def test_a_send_of_the_notifier_is_a_span_in_the_executions_trace(
    spans: InMemorySpanExporter,
) -> None:
    with send_span("webhook", PARENT, "e1") as span:
        assert span is not None
        tracing.mark_failed(span, "webhook not delivered")
    with send_span("email", None, "e2") as none:  # an execution without a trace: no span
        assert none is None
    (sent,) = spans.get_finished_spans()
    assert sent.name == "notify webhook"
    assert sent.attributes["execution.id"] == "e1"
    assert sent.status.status_code == StatusCode.ERROR
    assert sent.parent is not None and sent.parent.span_id == int("b7ad6b7169203331", 16)


def test_with_tracing_off_nothing_is_made() -> None:
    assert not tracing.enabled()
    with send_span("webhook", PARENT, "e1") as span:
        assert span is None


def test_a_result_the_dispatcher_makes_itself_has_its_span(spans: InMemorySpanExporter) -> None:
    from aiokafka.structs import ConsumerRecord

    from workflows.contracts import StepCommand
    from workflows.services.dispatcher.service import _own_span

    command = StepCommand(
        execution_id="e1",
        command_id="e1:charge:3",
        workflow="w",
        workflow_version=1,
        step_id="charge",
        function="chargeCard",
        input={},
        attempt=3,
        idempotency_key="e1:charge:3",
    )
    headers = [("traceparent", PARENT["traceparent"].encode())]
    record = ConsumerRecord("t", 0, 0, 0, 0, None, b"", None, 0, 0, headers)
    span = _own_span(record, command, "CircuitOpen")
    carrier = tracing.end_attempt(span, ok=False, error="the circuit of 'chargeCard' is open")
    (made,) = spans.get_finished_spans()
    assert made.name == "step charge attempt 3"
    assert made.attributes["dispatcher.result"] == "CircuitOpen"
    assert made.status.status_code == StatusCode.ERROR
    assert carrier["traceparent"].split("-")[1] == PARENT["traceparent"].split("-")[1]


def test_a_child_workflows_start_carries_the_parents_trace() -> None:
    from datetime import UTC, datetime

    from workflows.contracts.topics import Topics
    from workflows.services.core.engine import start_execution
    from workflows.services.core.validation import compile_workflow
    from workflows.services.orchestrator.entries import unpack
    from workflows.services.orchestrator.outbox import outbox_entries

    parent = compile_workflow(
        {"name": "parent", "steps": [{"id": "kid", "function": "workflow:kid", "input": {}}]}
    )
    started = start_execution(parent, "p1", {}, datetime(2026, 1, 1, tzinfo=UTC))
    started.state.trace_context = dict(PARENT)
    topics = Topics.with_prefix("")
    sent = [unpack(e) for e in outbox_entries(started, topics, new=True)]
    [start] = [m for m in sent if m[0] == "msg" and m[1] == topics.start]
    assert start[2] == "p1-kid-1" and start[4] == PARENT  # the child's records join it
