"""OpenTelemetry traces, on only when OTEL_EXPORTER_OTLP_ENDPOINT is set.

One trace per execution: the trigger opens it (or joins the caller's `traceparent`), its
W3C context travels in the Kafka records' `traceparent`/`tracestate` headers and is kept in
the execution's state (`ExecutionState.traceparent`), so every step attempt, in whichever
process or runtime and after any restart, is a child span of the execution's span.

Off (the default) everything here is a cheap check: `enabled()` is a module flag.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "TRACE_HEADERS",
    "attempt_span",
    "configure",
    "context_of",
    "enabled",
    "end_attempt",
    "mark_failed",
    "record_headers",
    "shutdown",
    "span",
    "trace_headers",
]

TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
_provider: Any = None
_enabled = False


def enabled() -> bool:
    return _enabled


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Export spans over OTLP/HTTP as `service` (service.name) when the environment names an
    OTLP endpoint; else leave tracing off. Idempotent; True when on."""
    global _provider, _enabled
    env = os.environ if environ is None else environ
    if _enabled or not (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider, _enabled = provider, True
    return True


def shutdown() -> None:
    """Export the spans still queued (a stopping service)."""
    if _provider is not None:
        _provider.shutdown()


def context_of(carrier: Mapping[str, str] | None) -> Context | None:
    """The remote parent named by a `traceparent` (and `tracestate`) carrier; None without."""
    if not carrier or not carrier.get("traceparent"):
        return None
    return _PROPAGATOR.extract(dict(carrier))


def record_headers(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    """The trace headers of a Kafka record (its other headers left out)."""
    found: dict[str, str] = {}
    for key, value in headers or ():
        if key in TRACE_HEADERS and isinstance(value, bytes):
            found[key] = value.decode("ascii", errors="replace")
    return found


def trace_headers(current: Span | None = None) -> dict[str, str]:
    """The W3C carrier of `current` (default: the active span); {} when there is none."""
    carrier: dict[str, str] = {}
    ctx = trace.set_span_in_context(current) if current is not None else None
    _PROPAGATOR.inject(carrier, context=ctx)
    return carrier


@contextmanager
def span(
    name: str,
    parent: Mapping[str, str] | None,
    attributes: Mapping[str, str | int | bool] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A span named `name`, child of the `parent` carrier (a new trace without one); an
    exception marks it failed and goes on."""
    tracer = trace.get_tracer("workflows")
    with tracer.start_as_current_span(
        name, context=context_of(parent), kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def mark_failed(current: Span, message: str) -> None:
    current.set_status(Status(StatusCode.ERROR, message))


def attempt_span(
    carrier: Mapping[str, str], execution_id: str, step_id: str, attempt: int, function: str
) -> Span:
    """The started span of one step attempt, child of the command's trace context `carrier`
    (end it with `end_attempt`)."""
    return trace.get_tracer("workflows").start_span(
        f"step {step_id} attempt {attempt}",
        context=context_of(carrier),
        kind=SpanKind.CONSUMER,
        attributes={
            "execution.id": execution_id,
            "step.id": step_id,
            "step.attempt": attempt,
            "step.function": function,
        },
    )


def end_attempt(current: Span, ok: bool, error: str | None = None) -> dict[str, str]:
    """End an attempt's span (failed with `error` unless `ok`); its carrier, for the result."""
    if not ok:
        current.set_status(Status(StatusCode.ERROR, error or "failed"))
    carrier = trace_headers(current)
    current.end()
    return carrier
