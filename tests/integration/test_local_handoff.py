"""One process with an orchestrator and a dispatcher (`workflows run orchestrator dispatcher`):
each command goes to the dispatcher and each result to the orchestrator in memory as well as
through Kafka (issue 15, item 6).

On the real broker: executions complete with every step applied once, both services took
records from memory, and the Kafka copies that arrived after were recognized and dropped
(each step's result is in the history once; the step ran once)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest

from tests.support.runtime import running_engine, until
from workflows.contracts import Actor, StartExecution, encode
from workflows.contracts.topics import Topics
from workflows.functions import FunctionContext, FunctionRegistry
from workflows.runner import build_services
from workflows.services.infra.redis_client import connect_redis
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

CHAIN = {"name": "chain", "steps": [{"id": f"s{i}", "function": "hop"} for i in range(5)]}


async def test_results_are_handed_over_in_memory_and_their_kafka_copies_dropped(
    settings: Settings,
) -> None:
    calls: Counter[str] = Counter()
    registry = FunctionRegistry()

    def hop(data: Any, ctx: FunctionContext) -> dict[str, str]:
        calls[f"{ctx.execution_id}:{ctx.step_id}"] += 1
        return {"step": ctx.step_id}

    registry.register(hop, "hop")
    async with running_engine(settings, registry, local_handoff=True) as engine:
        await engine.register(CHAIN)
        ids = [uuid.uuid4().hex for _ in range(20)]
        for eid in ids:
            start = StartExecution(execution_id=eid, workflow="chain", actor=Actor(kind="api"))
            await engine.bus.publish(engine.topics.start, encode(start), eid)
        await engine.bus.flush()
        states = [await engine.wait(eid) for eid in ids]
        orchestrator, dispatcher = engine.orchestrator, engine.dispatcher
        # the Kafka copies come after: every one is recognized and dropped (deadline-polled)
        await until(
            lambda: (
                dispatcher is not None
                and dispatcher.handed_over > 0
                and dispatcher.from_memory.recognized >= dispatcher.handed_over
                and orchestrator is not None
                and orchestrator.applied_from_memory.recognized >= orchestrator.handed_over
            )
        )
    assert orchestrator is not None and dispatcher is not None
    assert all(s.status.value == "completed" for s in states), [s.error for s in states]
    assert orchestrator.handed_over >= len(ids), orchestrator.handed_over  # most of 100 results
    assert dispatcher.handed_over >= len(ids), dispatcher.handed_over  # most of 100 commands
    for state in states:
        succeeded = Counter(e.step_id for e in state.history if e.type == "step.succeeded")
        assert succeeded == {f"s{i}": 1 for i in range(5)}, state.execution_id
    assert set(calls.values()) == {1} and len(calls) == 100


async def test_workflows_run_wires_the_handoff_only_when_both_run_in_one_process(
    settings: Settings,
) -> None:
    redis = connect_redis(settings)
    on = settings.model_copy(update={"local_handoff": True})
    both = build_services(["orchestrator", "dispatcher"], on, redis)
    alone = build_services(["dispatcher"], on, redis)
    off = build_services(["orchestrator", "dispatcher"], settings, redis)  # the default
    results = Topics.with_prefix(settings.topic_prefix).step_results
    assert results in both[1].bus.local_delivery  # type: ignore[attr-defined]
    commands = Topics.with_prefix(settings.topic_prefix).step_commands
    assert commands in both[0].bus.local_delivery  # type: ignore[attr-defined]
    assert not alone[0].bus.local_delivery  # type: ignore[attr-defined]
    assert not off[1].bus.local_delivery  # type: ignore[attr-defined]
    await redis.aclose()
