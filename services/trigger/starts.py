"""Publish StartExecution commands for schedules and events, marked accepted like API starts."""

from __future__ import annotations

import json

from contracts import StartExecution, encode
from services.trigger.app import ACCEPTED_TTL_S, Context

__all__ = ["queue_start"]


async def queue_start(ctx: Context, start: StartExecution, version: int | None) -> None:
    """Mark the execution accepted and queue the command; durable once `bus.flush()` returns."""
    store, bus, _ = ctx.ready()
    value = json.dumps({"workflow": start.workflow, "version": version})
    await store.redis.set(ctx.accepted_key(start.execution_id), value, ex=ACCEPTED_TTL_S)
    await bus.publish(ctx.topics.start, encode(start), start.execution_id)
