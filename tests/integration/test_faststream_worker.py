"""A FastStream app serving a function with WorkerRouter completes a step of a workflow run by
the real engine (issue 21 item 5): real broker, real Redis, the FastStream app as a user runs it."""

from __future__ import annotations

import asyncio
import time

import pytest
from faststream import FastStream
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from tests.support.api import topic_reader
from tests.support.runtime import running_engine
from workflows import FunctionContext, FunctionRegistry, function
from workflows.contracts import DeadLetter, StepResult
from workflows.faststream_worker import WorkerRouter
from workflows.services.infra.settings import Settings

pytestmark = pytest.mark.integration

user_functions = FunctionRegistry()


class Order(BaseModel):
    orderId: str


@function("reserveStock", registry=user_functions)
async def reserve_stock(order: Order, ctx: FunctionContext) -> dict[str, str]:
    """Hold the items of an order."""
    return {"reservation": f"r-{order.orderId}", "attempt": str(ctx.attempt)}


WORKFLOW = {
    "name": "orderWorkflow",
    "input": {"type": "object", "properties": {"orderId": {"type": "string"}}},
    "steps": [
        {"id": "reserve", "function": "reserveStock", "input": {"orderId": "{{input.orderId}}"}}
    ],
    "outputMapping": {"reservation": "{{reserve.reservation}}"},
}


async def test_a_faststream_app_worker_completes_a_step(settings: Settings) -> None:
    broker = KafkaBroker(settings.kafka_bootstrap)
    router = WorkerRouter(user_functions, settings=settings, worker_id="shop-app-1")
    broker.include_router(router)
    app = FastStream(broker, on_startup=[router.create_topics])
    # The engine's dispatcher knows no reserveStock: it forwards the command to wf.fn.reserveStock.
    async with running_engine(settings, FunctionRegistry()) as engine, app:
        await engine.register(WORKFLOW)
        execution_id = await engine.start("orderWorkflow", {"orderId": "o-1"})
        state = await engine.wait(execution_id, timeout=60)
        assert state.status.value == "completed", state.error
        assert state.output == {"reservation": "r-o-1"}
        assert state.steps["reserve"].output == {"reservation": "r-o-1", "attempt": "1"}
        # the audit trail names the worker that ran the attempt
        [succeeded] = [e for e in state.history if e.type == "step.succeeded"]
        assert succeeded.data["workerId"] == "shop-app-1", succeeded
        started = [e for e in state.history if e.type == "step.started"]
        assert started and "workerId" not in started[0].data  # not known before it ran

        # The result went to wf.steps.results keyed by the execution id; garbage on the
        # function's topic went to the DLQ with its reason.
        await engine.bus.publish(router.topics.function("reserveStock"), b"not json", "k")
        await engine.bus.flush()
        async with topic_reader(settings, router.topics.step_results, router.topics.dlq) as reader:
            results: list[StepResult] = []
            letters: list[DeadLetter] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (results and letters):
                batch = await reader.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        if record.topic == router.topics.dlq:
                            letters.append(DeadLetter.model_validate_json(record.value))
                        else:
                            assert record.key == execution_id.encode()
                            results.append(StepResult.model_validate_json(record.value))
                await asyncio.sleep(0)
        assert [r.worker_id for r in results] == ["shop-app-1"]
        assert [(d.source_topic, d.service) for d in letters] == [
            (router.topics.function("reserveStock"), "faststream-worker")
        ]
        assert letters[0].reason.startswith("invalid JSON")
