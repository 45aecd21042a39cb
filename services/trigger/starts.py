"""Publish StartExecution commands for schedules and events, marked accepted like API starts;
the Idempotency-Key digest and conflict of an API start."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from workflows.contracts import StartExecution, encode
from workflows.services.infra import tracing
from workflows.services.trigger.deps import ACCEPTED_TTL_S, ApiProblem, Context

__all__ = ["body_digest", "key_reused", "queue_start", "start_trace"]


def start_trace(
    start: StartExecution, caller: Mapping[str, str] | None = None
) -> dict[str, str] | None:
    """With tracing on, the execution's span (under the caller's `traceparent`, else a new
    trace): its W3C context, for the start record's headers; None with tracing off."""
    if not tracing.enabled():
        return None
    parent = {k: caller[k] for k in tracing.TRACE_HEADERS if caller and k in caller}
    attributes = {"workflow": start.workflow, "execution.id": start.execution_id}
    with tracing.span(f"execution {start.workflow}", parent, attributes) as span:
        return tracing.trace_headers(span)


async def queue_start(ctx: Context, start: StartExecution, version: int | None) -> None:
    """Mark the execution accepted and queue the command; durable once `bus.flush()` returns."""
    store, bus, _ = ctx.ready()
    value = json.dumps({"workflow": start.workflow, "version": version})
    await store.redis.set(ctx.accepted_key(start.execution_id), value, ex=ACCEPTED_TTL_S)
    await bus.publish(ctx.topics.start, encode(start), start.execution_id, start_trace(start))


def body_digest(data: object) -> str:
    """The digest an Idempotency-Key claim keeps of a start's body: key order and spacing aside."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused(key: str, execution_id: str) -> ApiProblem:
    """The 409 for an Idempotency-Key sent again with another body."""
    return ApiProblem(
        409,
        f"Idempotency-Key '{key}' was already used with a different body "
        f"(execution {execution_id}); send the same body to get that execution, "
        "or use a new key for a new one",
    )
