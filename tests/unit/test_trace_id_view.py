"""The status view names an execution's trace (`traceId`) from its stored W3C context."""

from __future__ import annotations

from workflows.services.trigger.schemas import _trace_id

TRACEPARENT = "00-55980887a0748521f9f8edb3b336ccf5-00f067aa0ba902b7-01"


def test_the_trace_id_is_read_from_the_traceparent() -> None:
    assert _trace_id({"traceparent": TRACEPARENT}) == "55980887a0748521f9f8edb3b336ccf5"


def test_no_context_or_a_malformed_one_names_no_trace() -> None:
    assert _trace_id(None) is None
    assert _trace_id({}) is None
    assert _trace_id({"traceparent": "00-xyz-00f067aa0ba902b7-01"}) is None
    assert _trace_id({"traceparent": "garbage"}) is None
    assert _trace_id({"traceparent": TRACEPARENT.upper()}) is None  # W3C: lower-case hex
