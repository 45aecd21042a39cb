"""workflows.services.infra.tracing: off without an OTLP endpoint; W3C context in headers."""

from __future__ import annotations

from workflows.services.infra import tracing

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_tracing_stays_off_without_an_endpoint() -> None:
    assert tracing.configure("workflows-test", environ={}) is False
    assert tracing.enabled() is False


def test_record_headers_keep_only_the_trace_headers() -> None:
    headers = [("wf-signature", b"sig"), ("traceparent", PARENT.encode()), ("tracestate", b"a=1")]
    assert tracing.record_headers(headers) == {"traceparent": PARENT, "tracestate": "a=1"}
    assert tracing.record_headers(None) == {}


def test_a_span_under_a_carrier_joins_its_trace() -> None:
    assert tracing.context_of({}) is None
    span = tracing.attempt_span({"traceparent": PARENT}, "e1", "a", 2, "f")
    carrier = tracing.end_attempt(span, ok=True)
    # no SDK in this process: the span is the parent's (non-recording), so it carries it on
    assert carrier["traceparent"].split("-")[1] == PARENT.split("-")[1]
